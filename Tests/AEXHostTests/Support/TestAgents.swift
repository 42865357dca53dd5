@testable import AEXHost

/// Agents for store-level tests, created the way the CLI creates them.
enum TestAgents {
    static func create(_ writer: StoreWriter, name: String, budgetMicro: Int64, rpm: Int64 = 100) throws -> Agent {
        let agents = AgentService(writer: writer, registry: try AgentService.loadRegistry(writer))
        var settings = AgentSettings()
        settings.budget = MicroUSD(budgetMicro)
        settings.rpm = rpm
        return try agents.executeAndWait(.create(name: name, settings: settings)).get().agent
    }
}
