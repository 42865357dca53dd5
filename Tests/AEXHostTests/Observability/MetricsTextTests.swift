import Testing
@testable import AEXHost

@Suite struct MetricsTextTests {
    @Test func histogramsAreCumulativeWithInfAndSum() {
        var histogram = Histogram()
        histogram.observe(seconds: 0.0004)
        histogram.observe(seconds: 0.003)
        histogram.observe(seconds: 500)
        var text = PrometheusText()
        text.family("d_seconds", .histogram, "d")
        text.histogram("d_seconds", [("endpoint", "chat")], histogram)
        let samples = PrometheusSample.parse(text.text)
        #expect(samples.first { $0.labels["le"] == "0.0005" }?.value == 1)
        #expect(samples.first { $0.labels["le"] == "0.005" }?.value == 2)
        #expect(samples.first { $0.labels["le"] == "120" }?.value == 2)
        #expect(samples.first { $0.labels["le"] == "+Inf" }?.value == 3)
        #expect(samples.first { $0.name == "d_seconds_count" }?.value == 3)
        #expect(text.text.contains("# TYPE d_seconds histogram\n"))
    }

    @Test func labelValuesAreEscapedAndReadBack() {
        var text = PrometheusText()
        let hostile = "a\"b\\c\nd<img src=x>"
        text.sample("m_total", [("agent", hostile)], Int64(7))
        #expect(text.text == "m_total{agent=\"a\\\"b\\\\c\\nd<img src=x>\"} 7\n")
        #expect(PrometheusSample.parse(text.text) == [PrometheusSample(name: "m_total", labels: ["agent": hostile], value: 7)])
    }

    @Test func numbersAreWrittenPlainly() {
        #expect(PrometheusText.format(3) == "3")
        #expect(PrometheusText.format(0.25) == "0.25")
        #expect(PrometheusText.format(.infinity) == "+Inf")
    }

    @Test func shardsMergeAtScrape() {
        let metrics = CallMetrics(shardCount: 2)
        let key = CallMetrics.CallKey(agent: "bot", model: "m", endpoint: "chat/completions", statusClass: "2xx")
        metrics.recordSettled(shard: 0, key, tally: .init(requests: 1, promptTokens: 3, completionTokens: 4, spendMicro: 10),
                              tool: nil, requestMicros: 1_000, upstreamMicros: 500)
        metrics.recordSettled(shard: 1, key, tally: .init(requests: 1, promptTokens: 1, completionTokens: 1, spendMicro: 5),
                              tool: .init(tool: "calculator", outcome: "ok"), requestMicros: 2_000, upstreamMicros: nil)
        metrics.recordDenial(shard: 99, agent: "", reason: "invalid_api_key")
        let counts = metrics.snapshot()
        #expect(counts.calls[key] == CallMetrics.CallTally(requests: 2, promptTokens: 4, completionTokens: 5, spendMicro: 15))
        #expect(counts.requestDuration["chat/completions"]?.count == 2)
        #expect(counts.upstreamDuration["chat/completions"]?.count == 1)
        #expect(counts.tools[.init(tool: "calculator", outcome: "ok")] == 1)
        #expect(counts.denials[.init(agent: "", reason: "invalid_api_key")] == 1)
    }

    @Test func durationsForPeople() {
        #expect(MetricsCLI.duration(.infinity) == "never")
        #expect(MetricsCLI.duration(90) == "1m")
        #expect(MetricsCLI.duration(7_200 + 300) == "2h 5m")
        #expect(MetricsCLI.duration(3 * 86_400 + 3_600) == "3d 1h")
    }
}
