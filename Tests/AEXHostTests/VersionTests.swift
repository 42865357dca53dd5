import Testing
@testable import AEXHost

@Test func versionIsSemantic() {
    #expect(AEXVersion.current.split(separator: ".").count == 3)
}
