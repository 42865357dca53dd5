import AEXCalculator
import Foundation

// The in-process baseline of bench/tools.sh: the calculator tool's own function, called directly
// (no governance, no worker), N times; prints the mean microseconds per call.
//   aex-tool-bench [CALLS] [EXPRESSION]
let arguments = CommandLine.arguments
let calls = arguments.count > 1 ? Int(arguments[1]) ?? 100_000 : 100_000
let expression = arguments.count > 2 ? arguments[2] : "(1.5 + 2) * 3^2 / 7"
var checksum = 0
let started = DispatchTime.now().uptimeNanoseconds
for _ in 0..<calls {
    if case .success(let text) = Calculator.evaluate(expression) { checksum &+= text.utf8.count }
}
let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000
print(String(format: "in-process calculator: %.2f us per call (%d calls, checksum %d)", elapsed / Double(calls), calls, checksum))
