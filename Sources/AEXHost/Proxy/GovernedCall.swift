/// One admitted call, from its durable reservation to its settlement: what every continuation
/// (after the reservation commits, after the provider answers, after the settlement commits)
/// needs. Held once and shared by reference, so each continuation captures one pointer instead of
/// copying the plan's, the plugin's and the reservation's strings.
final class GovernedCall: Sendable {
    let plan: CallPlan
    let plugin: PluginLibrary
    /// The client's request body.
    let body: [UInt8]
    let reservation: ExecutionLedger.Reservation
    let responder: HTTPResponder
    /// When the rate window admitted it (its entry there is found by this and the plan's tokens).
    let admittedAtMillis: Int64

    init(plan: CallPlan, plugin: PluginLibrary, body: [UInt8], reservation: ExecutionLedger.Reservation, responder: HTTPResponder,
         admittedAtMillis: Int64) {
        self.admittedAtMillis = admittedAtMillis
        self.plan = plan
        self.plugin = plugin
        self.body = body
        self.reservation = reservation
        self.responder = responder
    }
}
