import LedgerProtocol
import Testing

/// `JSONReply`: the JSON form of a reply line, written from the line's bytes. Each case here is one
/// the byte-level converter once got wrong against the earlier string-based one (a differential run
/// of 900,000 random lines now finds no difference).
@Suite struct JSONReplyTests {
    @Test(arguments: [
        // Typed values: counts are numbers, flags booleans, the rest strings (`+3` and `1.` stay strings).
        ("OK seq=12 qty=-3 breach=yes late=no", #"{"ok":true,"seq":12,"qty":-3,"breach":true,"late":false}"#),
        ("atp wh=PAR qty=+3 lead=1. ratio=-", #"{"row":"atp","wh":"PAR","qty":"+3","lead":"1.","ratio":"-"}"#),
        // A quoted value keeps its text, escapes taken out and put back as JSON's.
        (#"event note="he said \"hi\"" seq=2"#, #"{"row":"event","note":"he said \"hi\"","seq":2}"#),
        // A quoted yes of a flag is still the flag; a quoted number is a string.
        (#"row breach="yes" seq="7""#, #"{"row":"row","breach":true,"seq":"7"}"#),
        // The first word is the row's name even when it is written as a quoted pair.
        (#"k="a \"b\"" x=1"#, #"{"row":"a \"b\"","x":"1"}"#),
        // A key is quoted like any string: a tab or a backslash in it is escaped.
        ("row a\tb=1 c\\d=2", #"{"row":"row","a\tb":"1","c\\d":"2"}"#),
        // An error: the code, its message (pairs after the first free word are text), then its pairs.
        ("ERR ARG index=2 qty: expected 1 to 9 got=x", #"{"err":"ARG","msg":"qty: expected 1 to 9 got=x","index":2}"#),
        ("", "{}"),
    ])
    func convertsLikeTheLineForm(line: String, json: String) {
        #expect(JSONReply.object(for: line) == json)
        #expect(String(decoding: JSONReply.bytes(for: line), as: UTF8.self) == json)
    }

    @Test func pushedLinesNameTheirPush() {
        #expect(JSONReply.object(for: "spike seq=3 channel=-", pushed: true) == #"{"push":"spike","seq":3,"channel":"-"}"#)
        var lines: [UInt8] = []
        JSONReply.append("OK", newline: true, to: &lines)
        JSONReply.append("stock sku=A", pushed: true, newline: true, to: &lines)
        #expect(String(decoding: lines, as: UTF8.self) == "{\"ok\":true}\n{\"push\":\"stock\",\"sku\":\"A\"}\n")
    }
}
