/// The version AEX reports in `aex version` and `GET /health`.
public enum AEXVersion {
    public static let current = "0.1.0"
}
