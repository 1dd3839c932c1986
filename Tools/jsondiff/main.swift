// Differential check of the JSON reply converter (Sources/LedgerProtocol/JSONReply.swift) against an
// earlier version of the same file: both convert the same random lines, and every difference is
// printed. Run by Tools/jsondiff/run.sh, which builds the two side by side under other type names.
var generator = SystemRandomNumberGenerator()
let pieces = ["OK", "ERR", "ARG", "stock", "seq=12", "qty=-3", "qty=+3", "breach=yes", "breach=no", "note=\"a b\"",
              "note=\"he said \\\"hi\\\"\"", "x=1.5", "x=1.", "x=.5", "on_hand=007", "lines=ORD-9.1@LIL:5", "sku=ü€",
              "late=\"yes\"", "text", "more", "k=", "=v", "a=b=c", "ratio=2.4981", "ratio=-", "dup=yes", "  ", "\t",
              "\u{1}", "msg=\"x=y\"", "available=0", "promise=now", "unterminated=\"abc", "cap=yes", "open=no"]
let alphabet = Array("ab=\" \\x1.-+yesnoOKERRqty".unicodeScalars) + ["\u{1}", "é", "\t"]
var checked = 0, differences = 0
func compare(_ line: String, pushed: Bool) {
    let earlier = EarlierJSONReply.object(for: line, pushed: pushed), now = CurrentJSONReply.object(for: line, pushed: pushed)
    checked += 1
    guard earlier != now else { return }
    differences += 1
    if differences <= 10 { print("line \(line.debugDescription)\n  earlier \(earlier)\n  now     \(now)") }
}
for _ in 0..<300_000 {
    let line = (0..<Int.random(in: 0...8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }
        .joined(separator: Bool.random(using: &generator) ? " " : "  ")
    compare(line, pushed: false)
    compare(line, pushed: true)
}
for _ in 0..<300_000 {
    var line = ""
    for _ in 0..<Int.random(in: 0...24, using: &generator) { line.unicodeScalars.append(alphabet.randomElement(using: &generator)!) }
    compare(line, pushed: false)
}
print("jsondiff: \(checked) conversions, \(differences) differences")
if differences > 0 { fatalError("the converters differ") }
