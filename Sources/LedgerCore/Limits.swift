/// Every limit of the ledger, in one place, with units last and a reason for each number.
public enum Limits {
    /// The protocol's line limit: long enough for any request with a full note, short enough that a
    /// client cannot make the server buffer much per connection.
    public static let lineBytesMax = 8_192
    /// Identifiers (sku, wh, res, xfer, po, ref, id) are keys in LMDB; 64 bytes keeps keys small and
    /// well under LMDB's 511-byte key limit even when two are joined.
    public static let identifierBytesMax = 64
    /// Free text is for people; 256 bytes is a sentence or two and keeps events small.
    public static let freeTextBytesMax = 256
    /// One request's quantity: 10^12 units is more than any warehouse holds.
    public static let quantityMax: Int64 = 1_000_000_000_000
    /// A bucket may grow past one request's maximum through many writes; 10^15 keeps every sum of
    /// buckets (projected = available + inbound + incoming) far from Int64 overflow.
    public static let bucketQuantityMax: Int64 = 1_000_000_000_000_000
    /// A batch is applied in one LMDB transaction; 1,000 writes keeps that transaction short.
    public static let batchWritesMax = 1_000

    // MARK: The writer (group commit and expiry)

    /// Writes in one group commit, counted in writes (a batch counts all of its writes): a group is
    /// one LMDB transaction, and 4,096 writes keeps it well under LMDB's dirty-page limit and bounds
    /// the latency a group adds to the writes queued behind it. A batch is never split: one that
    /// does not fit opens the next group. With its expiries, a group holds at most
    /// `groupWritesMax + expiriesPerGroupMax` events.
    public static let groupWritesMax = 4_096
    /// Expiries written per group, so a backlog after a long downtime does not make one huge group.
    public static let expiriesPerGroupMax = 1_000
    /// The writer wakes at least this often to look for due reservations (about a second late at worst).
    public static let writerIdleWakeMicroseconds: Int64 = 250_000
    /// While the clock is behind the newest event time, the writer notes the log's seq once a
    /// second for `at=` (16 bytes each): 100,000 marks (1.6 MB) cover 27 hours at one a second,
    /// and a longer hold halves their resolution instead of growing.
    public static let clockMarksMax = 100_000
    /// A reservation without `ttl=` still expires: reservations that never expire are the bug
    /// this ledger exists to avoid. Fifteen minutes matches a typical checkout.
    public static let reservationTTLDefaultSeconds: Int64 = 15 * 60
    /// The longest hold we accept; anything longer is a purchase order, not a reservation.
    public static let reservationTTLMaxSeconds: Int64 = 90 * 24 * 3600
    /// A backorder's default ttl: its promise plus this (or `backorderTTLUnknownSeconds` from now
    /// when the promise is unknown), never beyond `reservationTTLMaxSeconds` (FEATURES.md §1a).
    public static let backorderTTLAfterPromiseSeconds: Int64 = 7 * 24 * 3600
    public static let backorderTTLUnknownSeconds: Int64 = 30 * 24 * 3600
    /// Awaiting lines one reservation may have (one per purchase order, the cap or none).
    public static let awaitingLinesMax = 8
    /// Reservations one event fills; the rest go into `filled` events in the same commit.
    public static let fillsPerEventMax = 1_000
    /// Distinct channel names a pair may know (defaults, fences and overrides together).
    public static let channelsMax = 32
    /// Lines one ALLOCATE may make (`split=yes`).
    public static let allocationLinesMax = 16
    /// Waitlist entries one pair (or a sku's any-warehouse list) holds.
    public static let waitlistPerPairMax = 10_000
    /// Subscribers one `restock` push names.
    public static let restockNotifyMax = 100
    /// `promise` rows one RESCHEDULE or CANCEL answers; beyond, the OK line says `more=N`.
    public static let promiseRowsMax = 1_000
    /// EVENTS answers at most this many rows per request (the protocol's figure).
    public static let eventsLimitMax = 100_000
    /// EVENTS and HISTORY answer this many rows when the request gives no `limit=`.
    public static let eventsLimitDefault = 1_000

    // MARK: connections: what one peer, and all of them, may make the daemon hold.

    /// Connections served at once; more are refused with `ERR LIMIT`. Each costs a file descriptor
    /// and at most `connectionBytesMax` of buffers.
    public static let connectionsMax = 4_096
    /// Connections one uid may hold (`--connections-per-uid` changes it): one local peer cannot take
    /// every slot. Root is not counted against it.
    public static let connectionsPerUidDefault = 1_024
    /// Slots only root may take once `connectionsMax` is reached, so an operator can always get in.
    public static let connectionsReservedForRoot = 64
    /// A connection with nothing in flight, no open WATCH and no byte received for this long is
    /// closed (`--idle-timeout` changes it; 0 keeps idle connections forever). So is one whose
    /// client has not read a byte of its replies for this long.
    public static let idleTimeoutSecondsDefault: Int64 = 300
    /// Requests a connection may have unanswered: parsing stops at this many, in the middle of what
    /// one read brought in, and reading from the socket stops with it.
    public static let pendingRequestsMax = 1_024
    /// Bytes one read burst takes from a socket: `socketReadsPerBurst` reads of at most
    /// `socketReadBytesMax`. Unparsed input of a connection never exceeds this plus one line, and a
    /// pipelining client gets no more than this handled before the other connections of its event
    /// loop get their turn. (Redis takes 16 KiB per client per turn; a request costs stockd more,
    /// so it takes less to keep a turn as short.)
    public static let socketReadBytesMax = 4_096
    public static let socketReadsPerBurst = 1
    /// Replies a connection has written that its client has not read yet: past this, the
    /// connection parses nothing and starts no read until the client takes some (NIO's high water
    /// mark; it resumes below half of it).
    public static let unsentReplyBytesMax = 256 * 1_024
    /// Rows of EVENTS and HISTORY read and written at a time: a long answer goes out page by page,
    /// each page only once the client has taken enough of the one before.
    public static let logPageRows = 1_000
    /// A watcher further behind than this many bytes of pushed lines its client has not taken is
    /// cut off with `ERR LIMIT watcher too slow`.
    public static let watcherBacklogBytesMax = 4 << 20
    /// Events a catching-up watcher (`WATCH events from=`) reads and writes before yielding its event loop.
    public static let watcherCatchUpEventsPerStep = 1_000
    /// Skus whose fold a watcher catching up with `stock=yes` keeps (the buckets it pushes after each
    /// event come from them). Past this many the half used longest ago is dropped, and a dropped sku
    /// is folded again from its own events when it comes up: a bound on memory (a sku's fold is its
    /// pairs, open reservations and transfers, a few KiB for most: some 50 MiB at the bound), at the
    /// price of re-reading some skus' history when a backlog touches more skus than this. Each sku
    /// within the bound is read once.
    public static let watcherStockSkusMax = 16_384
    /// How long a cut-off watcher has to read what was queued before the connection is dropped.
    public static let watcherCutOffGraceSeconds: Int64 = 10
    /// Reply bytes of list and log reads written and not yet taken by their clients, across all
    /// connections: past this, no connection starts such a read until some are taken.
    public static let readReplyBytesInFlightMax = 256 * 1_024 * 1_024
}
