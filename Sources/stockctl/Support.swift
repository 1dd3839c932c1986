import ArgumentParser
import Foundation
import LedgerCore
import LedgerExchange
import LedgerStore
#if canImport(Glibc)
import Glibc
#endif

/// A refusal or failure of a stockctl command, told in one line.
///
/// ArgumentParser prints any error that is not a `ValidationError` as `Error: <description>` with
/// no usage text and exits 1: an operator sees one clear line, never a backtrace.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Limits of the operator commands, with units last.
enum ToolLimits {
    /// Import writes this many events per LMDB write transaction: large enough that the sync at
    /// each commit costs little per event, small enough that one transaction's dirty pages stay far
    /// below LMDB's limit and a failure part-way loses little work to redo.
    static let importChunkEventsMax = 10_000
    /// Export reads this many events per read transaction, then ends it: LMDB's caveat is that a
    /// long-lived reader pins old pages and makes the file grow while the daemon writes.
    static let exportChunkEventsMax = 10_000
    /// Progress lines on stderr come at most this often, so a long run shows it is alive without
    /// flooding a terminal or a log.
    static let progressIntervalSeconds = 1.0
}

/// Opens an existing store read-only, turning every way it can fail into one line. A damaged
/// store's `StoreDamage` goes on as it is: `StockCtl.main` prints it and exits 3.
func openExistingStore(_ directory: String) throws -> LedgerStore {
    do {
        return try LedgerStore(directory: directory, create: false, readOnly: true)
    } catch let error as StoreError {
        throw Failure("\(error)")
    } catch let error as LMDBError {
        throw Failure("\(directory) cannot be opened as a stockd store: \(error)")
    }
}

/// Progress lines on stderr, at most one per `ToolLimits.progressIntervalSeconds`.
struct Progress {
    let verb: String
    let start = monotonicSeconds()
    private var lastReport = monotonicSeconds()

    init(verb: String) { self.verb = verb }

    var elapsedSeconds: Double { monotonicSeconds() - start }

    func rate(_ done: Int) -> Int {
        let seconds = elapsedSeconds
        return seconds > 0 ? Int(Double(done) / seconds) : 0
    }

    /// Reports `done` (of `total` when known) if a second has passed since the last report.
    mutating func tick(done: Int, total: Int?, detail: @autoclosure () -> String = "") {
        let now = monotonicSeconds()
        guard now - lastReport >= ToolLimits.progressIntervalSeconds else { return }
        lastReport = now
        var line = "\(verb): \(done)"
        if let total { line += "/\(total)" }
        line += " events, \(rate(done)) events/s"
        let extra = detail()
        if !extra.isEmpty { line += ", " + extra }
        printError(line)
    }
}

/// Writes one line to stderr (progress and summaries, so stdout stays pure data).
func printError(_ line: String) {
    // One write(2) on descriptor 2: no shared C `FILE *`, which Swift 6 rightly calls shared state.
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// A text file written line by line through stdio, or stdout. A named file is written under a
/// temporary name and renamed into place only when complete, so a failed export never leaves a
/// truncated file that looks finished.
final class LineOutput {
    private let file: UnsafeMutablePointer<FILE>
    private let path: String?
    private let partialPath: String?
    /// True once a named file is closed (finished or abandoned): it is closed exactly once.
    private var closed = false

    init(path: String?) throws {
        guard let path, path != "-" else {
            // A stream of its own on descriptor 1: stockctl prints nothing else to stdout while
            // exporting (summaries go to stderr), so the two buffers never interleave.
            guard let standardOutput = fdopen(STDOUT_FILENO, "w") else {
                throw Failure("cannot write to stdout: \(String(cString: strerror(errno)))")
            }
            file = standardOutput
            self.path = nil
            partialPath = nil
            return
        }
        let partial = path + ".partial"
        guard let opened = fopen(partial, "w") else {
            throw Failure("cannot write \(partial): \(String(cString: strerror(errno)))")
        }
        file = opened
        self.path = path
        partialPath = partial
    }

    func write(_ line: String) {
        fputs(line, file)
        fputc(0x0A, file)
    }

    /// Flushes, and for a named file closes and renames it into place. Throws when any write failed
    /// (a full disk shows here, at the latest).
    func finish() throws {
        let flushed = fflush(file) == 0 && ferror(file) == 0
        guard let path, let partialPath else {
            if !flushed { throw Failure("writing to stdout failed: \(String(cString: strerror(errno)))") }
            return
        }
        closed = true
        let closedCleanly = fclose(file) == 0
        guard flushed && closedCleanly else {
            let reason = String(cString: strerror(errno))
            unlink(partialPath)
            throw Failure("writing \(path) failed: \(reason)")
        }
        guard rename(partialPath, path) == 0 else {
            throw Failure("cannot rename \(partialPath) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Drops a named file that will not be finished.
    func abandon() {
        guard let partialPath, !closed else { return }
        closed = true
        fclose(file)
        unlink(partialPath)
    }
}

/// Reads a file line by line with `getline`, as raw bytes without the line end (`\n`, and a `\r`
/// before it). Lines are counted from 1 for error messages.
final class LineInput: LineSource {
    fileprivate let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    private(set) var lineNumber = 0
    let sizeBytes: Int

    init(path: String) throws {
        guard let opened = fopen(path, "r") else {
            throw Failure("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        file = opened
        var info = stat()
        sizeBytes = fstat(fileno(opened), &info) == 0 ? Int(info.st_size) : 0
    }

    deinit {
        fclose(file)
        free(buffer)
    }

    /// Bytes consumed so far (for progress).
    var offsetBytes: Int { ftell(file) }

    /// The next line, or nil at the end of the file.
    func next() throws -> [UInt8]? {
        let count = getline(&buffer, &capacity, file)
        guard count >= 0 else {
            if ferror(file) != 0 { throw Failure("reading failed after line \(lineNumber): \(String(cString: strerror(errno)))") }
            return nil
        }
        lineNumber += 1
        var length = count
        return buffer!.withMemoryRebound(to: UInt8.self, capacity: count) { bytes in
            if length > 0 && bytes[length - 1] == 0x0A { length -= 1 }
            if length > 0 && bytes[length - 1] == 0x0D { length -= 1 }
            // Spreadsheet tools often start a UTF-8 file with a byte order mark; it is not data.
            var start = 0
            if lineNumber == 1 && length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { start = 3 }
            return Array(UnsafeBufferPointer(start: bytes + start, count: length - start))
        }
    }
}

/// File-system questions the commands ask before they touch anything.
enum Folder {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// True when `path` is a folder with nothing in it but `.` and `..`.
    static func isEmptyDirectory(_ path: String) -> Bool {
        guard let directory = opendir(path) else { return false }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { return false }
        }
        return true
    }

    static func sizeBytes(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Removes the files an LMDB environment leaves in `directory`, and the folder itself when this
    /// command created it and it is now empty.
    static func removeStore(_ directory: String, removeFolder: Bool) {
        unlink(directory + "/data.mdb")
        unlink(directory + "/lock.mdb")
        if removeFolder { rmdir(directory) }
    }
}

/// `LineInput`'s file as the `InputStream` CSV.swift's reader takes: reads go through the same
/// stdio stream, so `LineInput.offsetBytes` still tells the progress. Open and close belong to
/// `LineInput`.
final class FileInputStream: InputStream {
    private let input: LineInput

    init(_ input: LineInput) {
        self.input = input
        super.init(data: Data())
    }

    override func open() {}
    override func close() {}
    override var streamStatus: Stream.Status { .open }
    override var hasBytesAvailable: Bool { feof(input.file) == 0 }

    /// The bytes read, 0 at the end of the file, -1 on a read error.
    override func read(_ buffer: UnsafeMutablePointer<UInt8>, maxLength length: Int) -> Int {
        let count = fread(buffer, 1, length, input.file)
        return count == 0 && ferror(input.file) != 0 ? -1 : count
    }
}
