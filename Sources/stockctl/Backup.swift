import ArgumentParser
import LedgerCore
import LedgerStore
#if canImport(Glibc)
import Glibc
#endif

/// `stockctl backup`: a consistent, compacted copy of a store, safe while stockd writes.
///
/// The copy is LMDB's own (`mdb_env_copy2` with `MDB_CP_COMPACT`): it reads one snapshot in one read
/// transaction, so it holds exactly the events committed when it began, with projections that
/// match them. Free pages are left out, so the copy is often much smaller than the live file.
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the store, consistent and compacted, while stockd runs. DEST must not exist or be empty.")
    @Argument(help: "The folder to create the copy in (data.mdb goes inside it).") var destination: String
    @OptionGroup var options: DataOptions

    func run() throws {
        let destinationExisted = Folder.exists(destination)
        if destinationExisted {
            guard Folder.isDirectory(destination) else { throw Failure("\(destination) exists and is not a folder") }
            guard Folder.isEmptyDirectory(destination) else {
                throw Failure("\(destination) is not empty: a backup goes into a new or empty folder")
            }
        }
        let store = try options.openStore()
        let start = monotonicSeconds()
        do {
            try store.backup(to: destination)
        } catch {
            store.close()
            Folder.removeStore(destination, removeFolder: !destinationExisted)
            throw Failure("backup to \(destination) failed: \(error)")
        }
        let sourceBytes = store.dataFileBytes
        store.close()
        let seconds = monotonicSeconds() - start

        // Open the copy as a store: this checks it is one, and tells what it holds.
        let copy = try openExistingStore(destination)
        let (events, lastSeq) = try copy.read { reader in
            (Dictionary(uniqueKeysWithValues: try reader.entryCounts())["log"] ?? 0, try reader.logEnd())
        }
        let bytes = copy.dataFileBytes
        copy.close()
        // Opening the copy made a lock file owned by whoever ran the backup (often root); nobody else
        // has the new copy open, so drop it and let the stockd that is started on the copy make its own.
        unlink(destination + "/lock.mdb")
        print("backup \(destination): \(events) events, last seq \(lastSeq), \(bytes) bytes "
              + "(live data file \(sourceBytes) bytes), in \(format3(seconds)) s")
    }
}
