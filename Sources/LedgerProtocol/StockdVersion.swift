/// The version of stockd and stockctl, in one place: `stockd --version`, `stockctl --version` and
/// HELLO's `version=` all print this.
public enum StockdVersion {
    public static let current = "0.1.0"
}
