import Testing
@testable import AEXHost

@Suite struct QueryValueTests {
    func request(_ query: String?) -> HTTPRequest {
        HTTPRequest(method: "GET", target: "/x", path: "/x", query: query, version: .http11, headers: HTTPHeaders(),
                    body: [], keepAlive: true)
    }

    @Test func findsAndDecodes() {
        #expect(request("expect_head=12%3Aab&x=1").queryValue("expect_head") == "12:ab")
        #expect(request("a=1&b=two+words").queryValue("b") == "two words")
        #expect(request("flag&a=1").queryValue("flag") == "")
        #expect(request("a=1").queryValue("b") == nil)
        #expect(request(nil).queryValue("a") == nil)
        #expect(request("a=%zz").queryValue("a") == nil, "a bad escape is no value")
        #expect(request("a=%ff").queryValue("a") == nil, "not UTF-8")
        #expect(request("a=1&a=2").queryValue("a") == "1", "the first one")
    }
}
