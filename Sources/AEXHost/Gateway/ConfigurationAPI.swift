import Foundation

/// `POST /admin/reload_config` and `GET /admin/models`. A reload reads and validates the whole
/// configuration off the loop (it touches files) and swaps it only if valid; the outcome is
/// recorded in the ledger.
final class ConfigurationAPI: Sendable {
    let catalog: ModelCatalog
    let ledger: CallLedger
    let logger: Logger?
    let home: AEXHome?

    init(catalog: ModelCatalog, ledger: CallLedger, logger: Logger?, home: AEXHome? = nil) {
        self.catalog = catalog
        self.ledger = ledger
        self.logger = logger
        self.home = home
    }

    /// Refuses, without opening them, configuration files that are not regular files: a FIFO or
    /// a device in place of `.env` would block its reader for good. (`models.yaml` is read through
    /// `ConfigFile`, which refuses them itself.)
    static func requireRegularFiles(_ home: AEXHome) throws(YAMLError) {
        for path in [home.modelsConfigPath, home.envFilePath, home.toolsConfigPath] {
            do {
                try ConfigFile.requireRegularIfPresent(path)
            } catch {
                throw YAMLError(file: path, line: 1, column: 1, reason: error.reason)
            }
        }
    }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        switch (request.method, request.path) {
        case ("GET", "/admin/models"):
            responder.respond(.json(200, .array(Self.listing(catalog.snapshot.config))))
        case ("POST", "/admin/reload_config"):
            DispatchQueue.global().async { [self] in
                switch reload(source: "admin api") {
                case .success(let snapshot):
                    responder.respond(.json(200, .object(["status": .string("reloaded"), "models": .array(Self.listing(snapshot.config))])))
                case .failure(let error):
                    responder.respond(.error(400, code: "invalid_config", message: "\(error); the previous configuration stays in force"))
                }
            }
        default:
            responder.respond(.error(405, code: "method_not_allowed", message: "\(request.method) is not allowed on \(request.path)"))
        }
    }

    /// Reloads (blocking: call off the event loops), logs and records the outcome.
    func reload(source: String) -> Result<ModelCatalog.Snapshot, YAMLError> {
        let result: Result<ModelCatalog.Snapshot, YAMLError>
        do {
            if let home { try Self.requireRegularFiles(home) }
            result = .success(try catalog.reload(environment: ProcessInfo.processInfo.environment))
        } catch {
            result = .failure(error)
        }
        let payload: JSONValue
        switch result {
        case .success(let snapshot):
            payload = .object(["ok": .bool(true), "source": .string(source), "models": .int(Int64(snapshot.config.models.count))])
            logger?.info("configuration reloaded", ["source": .string(source), "models": .int(Int64(snapshot.config.models.count))])
        case .failure(let error):
            payload = .object(["ok": .bool(false), "source": .string(source), "error": .string(error.description)])
            logger?.warn("configuration reload refused; the previous one stays", ["source": .string(source), "error": .string(error.description)])
        }
        ledger.record(LedgerEvent(type: .configReload, agentID: nil, agentName: nil, payload: payload))
        return result
    }

    static func listing(_ config: ModelsConfig) -> [JSONValue] {
        config.models.values.sorted { $0.alias < $1.alias }.map { model in
            .object([
                "name": .string(model.alias), "provider": .string(model.provider), "provider_model": .string(model.providerModel),
                "input_micro_per_mtok": .int(model.pricing.inputMicroPerMillionTokens),
                "output_micro_per_mtok": .int(model.pricing.outputMicroPerMillionTokens),
                "max_tokens": .int(model.maxTokens), "tools": .bool(model.capabilities.tools), "vision": .bool(model.capabilities.vision),
                "streaming": .bool(model.capabilities.streaming), "embeddings": .bool(model.capabilities.embeddings),
                "default": .bool(config.defaultModel == model.alias),
            ])
        }
    }
}
