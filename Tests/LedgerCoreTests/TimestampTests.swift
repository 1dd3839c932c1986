import LedgerCore
import Testing

/// `Timestamp`: RFC 3339 formatting and parsing.
@Suite struct TimestampTests {
    static let example: Int64 = 1_795_334_400  // 2026-11-22T08:00:00Z

    static let formatted: [(Int64, String)] = [
        (0, "1970-01-01T00:00:00Z"),
        (TimestampTests.example * 1_000_000, "2026-11-22T08:00:00Z"),
        (TimestampTests.example * 1_000_000 + 500_000, "2026-11-22T08:00:00.500000Z"),
        (TimestampTests.example * 1_000_000 + 1, "2026-11-22T08:00:00.000001Z"),
        (Int64(-1), "1969-12-31T23:59:59.999999Z"),
        (Int64(-86_400_000_000), "1969-12-31T00:00:00Z"),
        (Int64(951_782_400) * 1_000_000, "2000-02-29T00:00:00Z"),
        (Int64(1_709_208_000) * 1_000_000, "2024-02-29T12:00:00Z"),
        (Int64(1_735_603_200) * 1_000_000 + 999_999, "2024-12-31T00:00:00.999999Z"),
        (Int64(-62_135_596_800) * 1_000_000, "0001-01-01T00:00:00Z"),
        (Int64(253_402_300_799) * 1_000_000, "9999-12-31T23:59:59Z"),
        // Past four digits the text is built piece by piece (and does not parse back).
        (Int64(253_402_300_800) * 1_000_000 + 7, "10000-01-01T00:00:00.000007Z"),
    ]

    @Test(arguments: TimestampTests.formatted)
    func formatsAsRFC3339InUTC(microseconds: Int64, text: String) {
        let time = Timestamp(microseconds: microseconds)
        #expect(time.rfc3339 == text)
        #expect(time.description == text)
        if text.utf8.count <= 27 { #expect(Timestamp(rfc3339: Substring(text)) == time) }
    }

    static let parsed: [(String, Int64)] = [
        ("2026-11-22T08:00:00Z", TimestampTests.example * 1_000_000),
        ("2026-11-22t08:00:00z", TimestampTests.example * 1_000_000),
        ("2026-11-22T08:00:00.5Z", TimestampTests.example * 1_000_000 + 500_000),
        ("2026-11-22T08:00:00.123Z", TimestampTests.example * 1_000_000 + 123_000),
        ("2026-11-22T08:00:00.123456Z", TimestampTests.example * 1_000_000 + 123_456),
        // Digits beyond the microsecond are dropped, not rounded.
        ("2026-11-22T08:00:00.1234569Z", TimestampTests.example * 1_000_000 + 123_456),
        ("2026-11-22T10:00:00+02:00", TimestampTests.example * 1_000_000),
        ("2026-11-22T02:30:00-05:30", TimestampTests.example * 1_000_000),
        ("2026-11-22T08:00:00.25+00:00", TimestampTests.example * 1_000_000 + 250_000),
        ("2026-11-22T08:00:00-00:00", TimestampTests.example * 1_000_000),
        // An offset may move the day, the month and the year.
        ("2026-11-23T07:00:00+23:00", TimestampTests.example * 1_000_000),
        ("2027-01-01T00:30:00+01:00", Int64(1_798_759_800) * 1_000_000),
        ("2024-02-29T12:00:00Z", Int64(1_709_208_000) * 1_000_000),
        ("2024-03-01T00:00:00Z", Int64(1_709_251_200) * 1_000_000),
    ]

    @Test(arguments: TimestampTests.parsed)
    func parsesRFC3339(text: String, microseconds: Int64) {
        #expect(Timestamp(rfc3339: Substring(text))?.microseconds == microseconds)
    }

    @Test func parsesFromASubstringOfALargerString() {
        let line = "eta=2026-11-22T08:00:00Z rest"
        let start = line.index(line.startIndex, offsetBy: 4)
        let end = line.index(start, offsetBy: 20)
        #expect(Timestamp(rfc3339: line[start..<end]) == Timestamp(seconds: TimestampTests.example))
    }

    @Test func leapYearsFollowTheGregorianRules() {
        #expect(Timestamp(rfc3339: "2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "2000-02-29T00:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "2400-02-29T00:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "2023-02-29T00:00:00Z") == nil)
        #expect(Timestamp(rfc3339: "1900-02-29T00:00:00Z") == nil)
        #expect(Timestamp(rfc3339: "2100-02-29T00:00:00Z") == nil)
        #expect(Timestamp(rfc3339: "2024-02-30T00:00:00Z") == nil)
        // The day after 28 February is 29 February in a leap year and 1 March otherwise.
        let leap = Timestamp(rfc3339: "2028-02-28T12:00:00Z")!.adding(seconds: 86_400)
        #expect(leap.rfc3339 == "2028-02-29T12:00:00Z")
        let common = Timestamp(rfc3339: "2027-02-28T12:00:00Z")!.adding(seconds: 86_400)
        #expect(common.rfc3339 == "2027-03-01T12:00:00Z")
        let yearEnd = Timestamp(rfc3339: "2024-12-31T23:59:59Z")!.adding(seconds: 1)
        #expect(yearEnd.rfc3339 == "2025-01-01T00:00:00Z")
    }

    @Test func aLeapSecondIsAccepted() throws {
        let leap = try #require(Timestamp(rfc3339: "2016-12-31T23:59:60Z"))
        let before = try #require(Timestamp(rfc3339: "2016-12-31T23:59:59Z"))
        let after = try #require(Timestamp(rfc3339: "2017-01-01T00:00:00Z"))
        #expect(leap >= before && leap < after)
    }

    @Test(arguments: [
        "",
        "2026-11-22",
        "2026-11-22T08:00:00",            // no zone
        "2026-11-22T08:00Z",              // no seconds
        "2026-11-22 08:00:00Z",           // space instead of T
        "2026-11-22T08:00:00ZZ",
        "2026-11-22T08:00:00Z ",
        " 2026-11-22T08:00:00Z",
        "2026-11-22T08:00:00.Z",          // a dot with no digits
        "2026-11-22T08:00:00,5Z",
        "2026-11-22T08:00:00+0200",
        "2026-11-22T08:00:00+02",
        "2026-11-22T08:00:00+24:00",
        "2026-11-22T08:00:00+02:60",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T08:60:00Z",
        "2026-11-22T08:00:61Z",
        "26-11-22T08:00:00Z",
        "2026-1-22T08:00:00Z",
        "2026/11/22T08:00:00Z",
        "+2026-11-22T08:00:00Z",
        "2026-11-22T08:00:00UTC",
        "2026-11-2aT08:00:00Z",
        "２０２６-11-22T08:00:00Z",         // full-width digits
        "tomorrow",
        "seq:5",
    ])
    func rejectsInvalidText(text: String) {
        #expect(Timestamp(rfc3339: Substring(text)) == nil)
    }

    @Test func formattingThenParsingRoundTripsAcrossTheFourDigitYears() {
        var random = InvariantTests.LCG(state: 7)
        let low: Int64 = -62_135_596_800, high: Int64 = 253_402_300_799
        var checked = 0
        for _ in 0..<5_000 {
            let seconds = random.int(low...high)
            // Whole seconds half the time, so both forms are covered.
            let fraction = random.chance(50) ? 0 : random.int(0...999_999)
            let time = Timestamp(microseconds: seconds * 1_000_000 + fraction)
            let text = time.rfc3339
            #expect(text.utf8.count == (fraction == 0 ? 20 : 27), "\(text)")
            guard Timestamp(rfc3339: Substring(text)) == time else {
                Issue.record("\(time.microseconds) formats as \(text), which parses back differently")
                return
            }
            checked += 1
        }
        #expect(checked == 5_000)
    }

    @Test func parsingThenFormattingIsCanonical() {
        #expect(Timestamp(rfc3339: "2026-11-22T08:00:00.100Z")?.rfc3339 == "2026-11-22T08:00:00.100000Z")
        #expect(Timestamp(rfc3339: "2026-11-22T08:00:00.000000Z")?.rfc3339 == "2026-11-22T08:00:00Z")
        #expect(Timestamp(rfc3339: "2026-11-22T09:00:00+01:00")?.rfc3339 == "2026-11-22T08:00:00Z")
    }

    @Test func orderAndArithmetic() {
        let time = Timestamp(seconds: TimestampTests.example)
        #expect(time.microseconds == TimestampTests.example * 1_000_000)
        #expect(time.adding(seconds: 900).rfc3339 == "2026-11-22T08:15:00Z")
        #expect(time.adding(seconds: -3_600).rfc3339 == "2026-11-22T07:00:00Z")
        #expect(time < time.adding(seconds: 1))
        #expect(Timestamp(microseconds: -1) < Timestamp(microseconds: 0))
        #expect([time.adding(seconds: 5), time, time.adding(seconds: -5)].min() == time.adding(seconds: -5))
    }
}
