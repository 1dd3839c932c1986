/// A point in time as whole microseconds since 1970-01-01T00:00:00Z (UTC).
///
/// The ledger records every event with one of these. It has no clock of its own: callers pass the
/// current time in, so the fold and validation stay pure and replay gives the same answers.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64) { self.microseconds = seconds * 1_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public func adding(seconds: Int64) -> Timestamp { Timestamp(microseconds: microseconds + seconds * 1_000_000) }

    /// RFC 3339 in UTC, with a six-digit fraction only when the time is not a whole second.
    public var description: String { rfc3339 }

    public var rfc3339: String {
        var seconds = microseconds / 1_000_000
        var fraction = microseconds % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (year, month, day) = Timestamp.civil(fromDays: days)
        guard (0...9_999).contains(year) else {
            return Timestamp.spelledOut(year, month, day, secondOfDay, fraction)
        }
        // Every event row and most replies carry a time: the digits go straight into the string's
        // storage (20 or 27 ASCII bytes), with no intermediate strings.
        let length = fraction != 0 ? 27 : 20
        return String(unsafeUninitializedCapacity: length) { buffer in
            func put(_ value: Int64, _ width: Int, at start: Int) {
                var rest = value
                for index in stride(from: start + width - 1, through: start, by: -1) {
                    buffer[index] = UInt8(48 + rest % 10)
                    rest /= 10
                }
            }
            put(year, 4, at: 0); buffer[4] = UInt8(ascii: "-")
            put(month, 2, at: 5); buffer[7] = UInt8(ascii: "-")
            put(day, 2, at: 8); buffer[10] = UInt8(ascii: "T")
            put(secondOfDay / 3600, 2, at: 11); buffer[13] = UInt8(ascii: ":")
            put((secondOfDay / 60) % 60, 2, at: 14); buffer[16] = UInt8(ascii: ":")
            put(secondOfDay % 60, 2, at: 17)
            if fraction != 0 {
                buffer[19] = UInt8(ascii: ".")
                put(fraction, 6, at: 20)
            }
            buffer[length - 1] = UInt8(ascii: "Z")
            return length
        }
    }

    /// The same text for a year outside 0...9999 (a forged or corrupt time), built piece by piece.
    private static func spelledOut(_ year: Int64, _ month: Int64, _ day: Int64, _ secondOfDay: Int64, _ fraction: Int64) -> String {
        var out = ""
        out.reserveCapacity(27)
        Timestamp.pad(&out, year, 4); out.append("-")
        Timestamp.pad(&out, month, 2); out.append("-")
        Timestamp.pad(&out, day, 2); out.append("T")
        Timestamp.pad(&out, secondOfDay / 3600, 2); out.append(":")
        Timestamp.pad(&out, (secondOfDay / 60) % 60, 2); out.append(":")
        Timestamp.pad(&out, secondOfDay % 60, 2)
        if fraction != 0 { out.append("."); Timestamp.pad(&out, fraction, 6) }
        out.append("Z")
        return out
    }

    /// Parses RFC 3339 (`2026-11-22T08:00:00Z`, fractions to any length, `Z` or `±hh:mm`).
    public init?(rfc3339 text: Substring) {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[start..<start + count] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        func byte(_ index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }
        guard let year = number(0, 4), byte(4) == 45, let month = number(5, 2), byte(7) == 45,
              let day = number(8, 2), byte(10) == 84 || byte(10) == 116,
              let hour = number(11, 2), byte(13) == 58, let minute = number(14, 2), byte(16) == 58,
              let second = number(17, 2),
              (1...12).contains(month), day >= 1, day <= Timestamp.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fractionMicros: Int64 = 0
        if byte(index) == 46 {
            index += 1
            var digits = 0
            while let b = byte(index), b >= 48, b <= 57 {
                if digits < 6 { fractionMicros = fractionMicros * 10 + Int64(b - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 6)..<6 { fractionMicros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        switch byte(index) {
        case 90, 122: index += 1
        case 43, 45:
            guard let oh = number(index + 1, 2), byte(index + 3) == 58, let om = number(index + 4, 2),
                  oh < 24, om < 60 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (byte(index) == 43 ? 1 : -1)
            index += 6
        default: return nil
        }
        guard index == bytes.count else { return nil }
        let days = Timestamp.days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        self.microseconds = seconds * 1_000_000 + fractionMicros
    }

    private static func pad(_ out: inout String, _ value: Int64, _ width: Int) {
        let digits = String(value)
        if digits.count < width { out.append(String(repeating: "0", count: width - digits.count)) }
        out.append(digits)
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil and civil_from_days: exact for the proleptic Gregorian calendar.
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
