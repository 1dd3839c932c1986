import Foundation
import LedgerClient
import Testing

/// FEATURES.md §1b (channels: fences, shares, buffers, max) and §1c (ROUTE, ALLOCATE, RELEASE alloc=)
/// against a real stockd: the examples as transcripts of real runs (played in line mode and again
/// after `HELLO format=json`, see `PromiseTests.play`), 32 clients allocating at once, a marketplace
/// campaign against a B2B fence, and restarts from a checkpoint and from a log tail.
@Suite("channels and allocation end to end")
struct ChannelTests {
    typealias Mode = PromiseTests.Mode

    func play(_ story: String, _ mode: Mode, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try PromiseTests().play(story, mode, sourceLocation: sourceLocation)
    }

    /// In JSON the new counts come as strings: `fenced free fence share buffer low` (stock, channel
    /// and OK rows, `ERR INSUFFICIENT free=`) and ALLOCATE's `lines=2` are missing from
    /// `JSONReply.numericKeys`; an `allocated` event row that awaits an order names `lines` twice (its
    /// lines, then the awaiting ones: Rows.swift). Pinned until docs/protocol.md's JSON rules hold.
    func playPinningJSON(_ story: String, _ mode: Mode, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try play(story, mode, sourceLocation: sourceLocation)
    }

    /// §1b's worked example: 100 on hand, b2b fenced 40, mkp share=50 buffer=5: mkp sees 25, web 60,
    /// b2b 100. The campaign sells 60 on web: free 0, web and mkp 0, b2b still 40. Then a b2b hold
    /// draws on its fence (`fence=30`), a partial release gives it back (`fence_back=10`), a loss cuts
    /// it (`fence_cut=b2b:15`), ALLOT 0 removes it; overrides merge over the defaults and `inherit=yes`
    /// drops them; the refusals; `STOCK at=` answers with the rules as they were then.
    @Test("§1b's worked example, fence draws, returns and cuts, overrides and refusals", arguments: Mode.allCases)
    func workedExample(mode: Mode) throws {
        try playPinningJSON("""
            > RECEIVE sku=TSHIRT-M wh=PAR qty=100
            < OK seq=1 sku=TSHIRT-M wh=PAR on_hand=100 reserved=0 available=100 breach=no
            > ALLOT sku=TSHIRT-M wh=PAR channel=b2b qty=40
            < OK seq=2 sku=TSHIRT-M wh=PAR on_hand=100 reserved=0 available=100 breach=no
            > CHANNEL channel=mkp share=50 buffer=5
            < OK seq=3 channel=mkp share=50 buffer=5
            > STOCK sku=TSHIRT-M channel=mkp
            < stock sku=TSHIRT-M wh=PAR on_hand=100 reserved=0 available=100 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=100 fenced=40 free=60 view=25 fence=0
            < total sku=TSHIRT-M on_hand=100 reserved=0 available=100 inbound=0 incoming=0 projected=100 warehouses=1 breaches=0
            < OK rows=2 seq=3
            > STOCK sku=TSHIRT-M channel=web
            < stock sku=TSHIRT-M wh=PAR on_hand=100 reserved=0 available=100 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=100 fenced=40 free=60 view=60 fence=0
            < total sku=TSHIRT-M on_hand=100 reserved=0 available=100 inbound=0 incoming=0 projected=100 warehouses=1 breaches=0
            < OK rows=2 seq=3
            > STOCK sku=TSHIRT-M channel=b2b
            < stock sku=TSHIRT-M wh=PAR on_hand=100 reserved=0 available=100 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=100 fenced=40 free=60 view=100 fence=40
            < total sku=TSHIRT-M on_hand=100 reserved=0 available=100 inbound=0 incoming=0 projected=100 warehouses=1 breaches=0
            < OK rows=2 seq=3
            > CHANNELS sku=TSHIRT-M
            < channel sku=TSHIRT-M wh=PAR channel=b2b fence=40 share=100 buffer=0 max=none low=0 view=100 held=0 sold_7d=0
            < channel sku=TSHIRT-M wh=PAR channel=mkp fence=0 share=50 buffer=5 max=none low=0 view=25 held=0 sold_7d=0
            < OK rows=2 seq=3
            > SELL sku=TSHIRT-M wh=PAR qty=60 channel=web
            < OK seq=4 sku=TSHIRT-M wh=PAR on_hand=40 reserved=0 available=40 breach=no
            > STOCK sku=TSHIRT-M channel=mkp
            < stock sku=TSHIRT-M wh=PAR on_hand=40 reserved=0 available=40 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=40 fenced=40 free=0 view=0 fence=0
            < total sku=TSHIRT-M on_hand=40 reserved=0 available=40 inbound=0 incoming=0 projected=40 warehouses=1 breaches=0
            < OK rows=2 seq=4
            > STOCK sku=TSHIRT-M channel=web
            < stock sku=TSHIRT-M wh=PAR on_hand=40 reserved=0 available=40 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=40 fenced=40 free=0 view=0 fence=0
            < total sku=TSHIRT-M on_hand=40 reserved=0 available=40 inbound=0 incoming=0 projected=40 warehouses=1 breaches=0
            < OK rows=2 seq=4
            > CHANNELS sku=TSHIRT-M
            < channel sku=TSHIRT-M wh=PAR channel=b2b fence=40 share=100 buffer=0 max=none low=0 view=40 held=0 sold_7d=0
            < channel sku=TSHIRT-M wh=PAR channel=mkp fence=0 share=50 buffer=5 max=none low=0 view=0 held=0 sold_7d=0
            < OK rows=2 seq=4
            > SELL sku=TSHIRT-M wh=PAR qty=1 channel=mkp
            < ERR INSUFFICIENT available=0 requested=1 sku=TSHIRT-M wh=PAR
            > SELL sku=TSHIRT-M wh=PAR qty=1
            < ERR INSUFFICIENT available=0 requested=1 sku=TSHIRT-M wh=PAR
            > ALLOT sku=TSHIRT-M wh=PAR channel=b2b qty=50
            < ERR INSUFFICIENT free=0 requested=10
            > RESERVE sku=TSHIRT-M wh=PAR qty=30 channel=b2b res=B-1 ref=DESK-1
            < OK seq=5 res=B-1 expires=<time> sku=TSHIRT-M wh=PAR on_hand=40 reserved=30 available=10 breach=no
            > RESERVATIONS channel=b2b
            < reservation res=B-1 sku=TSHIRT-M wh=PAR qty=30 expires=<time> ref=DESK-1 channel=b2b
            < OK rows=1 seq=5
            > RELEASE res=B-1 qty=10
            < OK seq=6 res=B-1 sku=TSHIRT-M wh=PAR on_hand=40 reserved=20 available=20 breach=no
            > ADJUST sku=TSHIRT-M wh=PAR delta=-15 reason=damaged
            < OK seq=7 sku=TSHIRT-M wh=PAR on_hand=25 reserved=20 available=5 breach=no
            > CHANNELS sku=TSHIRT-M wh=PAR channel=b2b
            < channel sku=TSHIRT-M wh=PAR channel=b2b fence=5 share=100 buffer=0 max=none low=0 view=5 held=20 sold_7d=0
            < OK rows=1 seq=7
            > SELL res=B-1
            < OK seq=8 res=B-1 sku=TSHIRT-M wh=PAR on_hand=5 reserved=0 available=5 breach=no
            > CHANNELS sku=TSHIRT-M wh=PAR channel=b2b
            < channel sku=TSHIRT-M wh=PAR channel=b2b fence=5 share=100 buffer=0 max=none low=0 view=5 held=0 sold_7d=20
            < OK rows=1 seq=8
            > CHANNELS sku=TSHIRT-M wh=PAR channel=web
            < channel sku=TSHIRT-M wh=PAR channel=web fence=0 share=100 buffer=0 max=none low=0 view=0 held=0 sold_7d=60
            < OK rows=1 seq=8
            > ALLOT sku=TSHIRT-M wh=PAR channel=b2b qty=0
            < OK seq=9 sku=TSHIRT-M wh=PAR on_hand=5 reserved=0 available=5 breach=no
            > STOCK sku=TSHIRT-M
            < stock sku=TSHIRT-M wh=PAR on_hand=5 reserved=0 available=5 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=5 fenced=0 free=5
            < total sku=TSHIRT-M on_hand=5 reserved=0 available=5 inbound=0 incoming=0 projected=5 warehouses=1 breaches=0
            < OK rows=2 seq=9
            > POLICY sku=TSHIRT-M wh=PAR channel=mkp max=3
            < OK seq=10 sku=TSHIRT-M wh=PAR on_hand=5 reserved=0 available=5 breach=no
            > CHANNELS sku=TSHIRT-M channel=mkp
            < channel sku=TSHIRT-M wh=PAR channel=mkp fence=0 share=50 buffer=5 max=3 low=0 view=0 held=0 sold_7d=0
            < OK rows=1 seq=10
            > POLICY sku=TSHIRT-M wh=PAR channel=mkp inherit=yes
            < OK seq=11 sku=TSHIRT-M wh=PAR on_hand=5 reserved=0 available=5 breach=no
            > CHANNELS sku=TSHIRT-M channel=mkp
            < channel sku=TSHIRT-M wh=PAR channel=mkp fence=0 share=50 buffer=5 max=none low=0 view=0 held=0 sold_7d=0
            < OK rows=1 seq=11
            > CHANNEL channel=mkp share=101
            < ERR ARG share: a whole percent from 0 to 100
            > POLICY sku=TSHIRT-M wh=PAR channel=mkp share=20 inherit=yes
            < ERR ARG inherit: not with share, buffer, max or low
            > POLICY sku=TSHIRT-M wh=PAR channel=mkp
            < ERR ARG missing key: one of share, buffer, max, low, inherit
            > CHANNEL channel=mkp
            < ERR ARG missing key: one of share, buffer, max, low
            > EVENTS
            < event seq=1 at=<time> kind=received actor=<uid> sku=TSHIRT-M wh=PAR qty=100
            < event seq=2 at=<time> kind=allotted actor=<uid> sku=TSHIRT-M wh=PAR channel=b2b qty=40
            < event seq=3 at=<time> kind=channel_set actor=<uid> channel=mkp share=50 buffer=5
            < event seq=4 at=<time> kind=sold actor=<uid> sku=TSHIRT-M wh=PAR qty=60 channel=web fence=0
            < event seq=5 at=<time> kind=reserved actor=<uid> sku=TSHIRT-M wh=PAR qty=30 res=B-1 expires=<time> channel=b2b fence=30 ref=DESK-1
            < event seq=6 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=PAR qty=10 res=B-1 channel=b2b fence_back=10
            < event seq=7 at=<time> kind=adjusted actor=<uid> sku=TSHIRT-M wh=PAR delta=-15 reason=damaged fence_cut=b2b:15
            < event seq=8 at=<time> kind=sold actor=<uid> sku=TSHIRT-M wh=PAR qty=20 res=B-1
            < event seq=9 at=<time> kind=allotted actor=<uid> sku=TSHIRT-M wh=PAR channel=b2b qty=0
            < event seq=10 at=<time> kind=policy_set actor=<uid> sku=TSHIRT-M wh=PAR channel=mkp max=3
            < event seq=11 at=<time> kind=policy_set actor=<uid> sku=TSHIRT-M wh=PAR channel=mkp inherit=yes
            < OK rows=11 seq=11
            > STOCK sku=TSHIRT-M at=seq:4 channel=b2b
            < stock sku=TSHIRT-M wh=PAR on_hand=40 reserved=0 available=40 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=40 fenced=40 free=0 view=40 fence=40
            < total sku=TSHIRT-M on_hand=40 reserved=0 available=40 inbound=0 incoming=0 projected=40 warehouses=1 breaches=0
            < OK rows=2 seq=4
            > CHANNEL channel=mkp share=80 buffer=0
            < OK seq=12 channel=mkp share=80 buffer=0
            > STOCK sku=TSHIRT-M channel=mkp
            < stock sku=TSHIRT-M wh=PAR on_hand=5 reserved=0 available=5 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=5 fenced=0 free=5 view=4 fence=0
            < total sku=TSHIRT-M on_hand=5 reserved=0 available=5 inbound=0 incoming=0 projected=5 warehouses=1 breaches=0
            < OK rows=2 seq=12
            > STOCK sku=TSHIRT-M at=seq:3 channel=mkp
            < stock sku=TSHIRT-M wh=PAR on_hand=100 reserved=0 available=100 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=100 fenced=40 free=60 view=25 fence=0
            < total sku=TSHIRT-M on_hand=100 reserved=0 available=100 inbound=0 incoming=0 projected=100 warehouses=1 breaches=0
            < OK rows=2 seq=3
            """, mode)
    }

    /// §1c's example: PAR ranks first but holds 3, so `fewest` ships 5 from LIL in one line. Then rank,
    /// all or nothing (`ERR INSUFFICIENT available= requested= avail=`), partial (`short=`), RELEASE
    /// alloc= (`done` rows, once), and each bad input.
    @Test("§1c's example, all or nothing, partial, RELEASE alloc= and each refusal", arguments: Mode.allCases)
    func allocationExample(mode: Mode) throws {
        try playPinningJSON("""
            > RECEIVE sku=TSHIRT-M wh=PAR qty=3
            < OK seq=1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            > RECEIVE sku=TSHIRT-M wh=LIL qty=6
            < OK seq=2 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            > RECEIVE sku=TSHIRT-M wh=LYS qty=4
            < OK seq=3 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            > ROUTE region=FR-N wh=PAR,LIL,LYS
            < OK seq=4 region=FR-N wh=PAR,LIL,LYS
            > ALLOCATE sku=TSHIRT-M qty=5 region=FR-N alloc=ORD-9 ttl=30m ref=ORD-9
            < line res=ORD-9.1 wh=LIL qty=5 held=5 awaiting=0 promise=now
            < OK seq=5 alloc=ORD-9 sku=TSHIRT-M qty=5 lines=1 short=0 strategy=fewest expires=<time>
            > RESERVATIONS alloc=ORD-9
            < reservation res=ORD-9.1 sku=TSHIRT-M wh=LIL qty=5 expires=<time> ref=ORD-9 alloc=ORD-9
            < OK rows=1 seq=5
            > SELL res=ORD-9.1
            < OK seq=6 res=ORD-9.1 sku=TSHIRT-M wh=LIL on_hand=1 reserved=0 available=1 breach=no
            > ALLOCATE sku=TSHIRT-M qty=5 region=FR-N strategy=rank alloc=R ref=R
            < line res=R.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=R.2 wh=LIL qty=1 held=1 awaiting=0 promise=now
            < line res=R.3 wh=LYS qty=1 held=1 awaiting=0 promise=now
            < OK seq=7 alloc=R sku=TSHIRT-M qty=5 lines=3 short=0 strategy=rank expires=<time>
            > ALLOCATE sku=TSHIRT-M qty=9 region=FR-N alloc=X
            < ERR INSUFFICIENT available=3 requested=9 avail=PAR:0,LIL:0,LYS:3
            > ALLOCATE sku=TSHIRT-M qty=9 region=FR-N alloc=X partial=yes
            < line res=X.1 wh=LYS qty=3 held=3 awaiting=0 promise=now
            < OK seq=8 alloc=X sku=TSHIRT-M qty=3 lines=1 short=6 strategy=fewest expires=<time>
            > RELEASE alloc=R
            < done seq=9 res=R.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=10 res=R.2 sku=TSHIRT-M wh=LIL on_hand=1 reserved=0 available=1 breach=no
            < done seq=11 res=R.3 sku=TSHIRT-M wh=LYS on_hand=4 reserved=3 available=1 breach=no
            < OK count=3
            > RELEASE alloc=R
            < ERR STATE allocation R has no open line
            > STOCK sku=TSHIRT-M
            < stock sku=TSHIRT-M wh=LIL on_hand=1 reserved=0 available=1 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=1
            < stock sku=TSHIRT-M wh=LYS on_hand=4 reserved=3 available=1 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=1
            < stock sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=3
            < total sku=TSHIRT-M on_hand=8 reserved=3 available=5 inbound=0 incoming=0 projected=5 warehouses=3 breaches=0
            < OK rows=4 seq=11
            > ALLOCATE sku=TSHIRT-M qty=1 region=FR-Z
            < ERR NOTFOUND region=FR-Z no such region FR-Z
            > ALLOCATE sku=TSHIRT-M qty=1 region=FR-N wh=PAR
            < ERR ARG region or wh: exactly one is required
            > ALLOCATE sku=TSHIRT-M qty=1
            < ERR ARG region or wh: exactly one is required
            > ALLOCATE sku=TSHIRT-M qty=1 wh=LYS,PAR,LYS
            < ERR ARG wh: LYS twice
            > ROUTE region=FR-S wh=LYS,PAR,LYS
            < ERR ARG wh: LYS twice
            > ALLOCATE sku=TSHIRT-M qty=1 region=FR-N alloc=ORD-9
            < ERR STATE alloc=ORD-9 exists
            > ALLOCATE sku=TSHIRT-M qty=1 region=FR-N split=0
            < ERR ARG split: no, yes or 1 to 16
            > ALLOCATE sku=TSHIRT-M qty=1 region=FR-N strategy=cheapest
            < ERR ARG strategy: expected fewest, rank, stock or surplus
            > ALLOCATE sku=TSHIRT-M qty=1 region=FR-N backorder=cap
            < ERR ARG backorder: only po with ALLOCATE
            > RELEASE alloc=NOPE
            < ERR NOTFOUND alloc=NOPE no such allocation NOPE
            > ROUTE region=FR-N wh=-
            < OK seq=12 region=FR-N wh=-
            > ALLOCATE sku=TSHIRT-M qty=1 region=FR-N
            < ERR NOTFOUND region=FR-N no such region FR-N
            > ROUTE region=FR-N wh=-
            < ERR NOTFOUND region=FR-N no such region FR-N
            > EVENTS from=5
            < event seq=5 at=<time> kind=allocated actor=<uid> sku=TSHIRT-M alloc=ORD-9 lines=ORD-9.1@LIL:5 expires=<time> requested=5 strategy=fewest ref=ORD-9
            < event seq=6 at=<time> kind=sold actor=<uid> sku=TSHIRT-M wh=LIL qty=5 res=ORD-9.1
            < event seq=7 at=<time> kind=allocated actor=<uid> sku=TSHIRT-M alloc=R lines=R.1@PAR:3,R.2@LIL:1,R.3@LYS:1 expires=<time> requested=5 strategy=rank ref=R
            < event seq=8 at=<time> kind=allocated actor=<uid> sku=TSHIRT-M alloc=X lines=X.1@LYS:3 expires=<time> requested=9 strategy=fewest
            < event seq=9 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=PAR qty=3 res=R.1
            < event seq=10 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=LIL qty=1 res=R.2
            < event seq=11 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=LYS qty=1 res=R.3
            < event seq=12 at=<time> kind=route_set actor=<uid> region=FR-N wh=-
            < OK rows=8 seq=12
            """, mode)
    }

    /// One ALLOCATE per strategy on the same stock (PAR 3, LIL 6 with safety 4, LYS 4 with safety 1;
    /// route PAR, LIL, LYS), each released before the next: fewest PAR 3 + LIL 5, rank the same, stock
    /// LIL 6 + LYS 2, surplus PAR 3 + LYS 3 + LIL 2 (10: LIL's line dips, `below_safety=yes`). Then
    /// split=no, exclude, a channel's views (mkp's shares; b2b's fence, given back on release), and
    /// backorder=po awaiting on LYS's order.
    @Test("one ALLOCATE per strategy on the same stock, split, exclude, channels, backorder=po", arguments: Mode.allCases)
    func strategies(mode: Mode) throws {
        try playPinningJSON("""
            > RECEIVE sku=TSHIRT-M wh=PAR qty=3
            < OK seq=1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            > RECEIVE sku=TSHIRT-M wh=LIL qty=6
            < OK seq=2 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            > RECEIVE sku=TSHIRT-M wh=LYS qty=4
            < OK seq=3 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            > POLICY sku=TSHIRT-M wh=LIL safety=4
            < OK seq=4 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            > POLICY sku=TSHIRT-M wh=LYS safety=1
            < OK seq=5 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            > ROUTE region=FR-N wh=PAR,LIL,LYS
            < OK seq=6 region=FR-N wh=PAR,LIL,LYS
            > ALLOCATE sku=TSHIRT-M qty=8 region=FR-N strategy=fewest alloc=F
            < line res=F.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=F.2 wh=LIL qty=5 held=5 awaiting=0 promise=now
            < OK seq=7 alloc=F sku=TSHIRT-M qty=8 lines=2 short=0 strategy=fewest expires=<time>
            > RELEASE alloc=F
            < done seq=8 res=F.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=9 res=F.2 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < OK count=2
            > ALLOCATE sku=TSHIRT-M qty=8 region=FR-N strategy=rank alloc=R
            < line res=R.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=R.2 wh=LIL qty=5 held=5 awaiting=0 promise=now
            < OK seq=10 alloc=R sku=TSHIRT-M qty=8 lines=2 short=0 strategy=rank expires=<time>
            > RELEASE alloc=R
            < done seq=11 res=R.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=12 res=R.2 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < OK count=2
            > ALLOCATE sku=TSHIRT-M qty=8 region=FR-N strategy=stock alloc=S
            < line res=S.1 wh=LIL qty=6 held=6 awaiting=0 promise=now
            < line res=S.2 wh=LYS qty=2 held=2 awaiting=0 promise=now
            < OK seq=13 alloc=S sku=TSHIRT-M qty=8 lines=2 short=0 strategy=stock expires=<time>
            > RELEASE alloc=S
            < done seq=14 res=S.1 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < done seq=15 res=S.2 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            < OK count=2
            > ALLOCATE sku=TSHIRT-M qty=8 region=FR-N strategy=surplus alloc=P
            < line res=P.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=P.2 wh=LYS qty=3 held=3 awaiting=0 promise=now
            < line res=P.3 wh=LIL qty=2 held=2 awaiting=0 promise=now
            < OK seq=16 alloc=P sku=TSHIRT-M qty=8 lines=3 short=0 strategy=surplus expires=<time>
            > RELEASE alloc=P
            < done seq=17 res=P.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=18 res=P.2 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            < done seq=19 res=P.3 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < OK count=3
            > ALLOCATE sku=TSHIRT-M qty=10 region=FR-N strategy=surplus alloc=P2
            < line res=P2.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=P2.2 wh=LYS qty=3 held=3 awaiting=0 promise=now
            < line res=P2.3 wh=LIL qty=4 held=4 awaiting=0 promise=now below_safety=yes
            < OK seq=20 alloc=P2 sku=TSHIRT-M qty=10 lines=3 short=0 strategy=surplus expires=<time>
            > RELEASE alloc=P2
            < done seq=21 res=P2.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=22 res=P2.2 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            < done seq=23 res=P2.3 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < OK count=3
            > ALLOCATE sku=TSHIRT-M qty=10 region=FR-N split=no
            < ERR INSUFFICIENT available=6 requested=10 avail=PAR:3,LIL:6,LYS:4
            > ALLOCATE sku=TSHIRT-M qty=10 region=FR-N split=no partial=yes alloc=N
            < line res=N.1 wh=LIL qty=6 held=6 awaiting=0 promise=now
            < OK seq=24 alloc=N sku=TSHIRT-M qty=6 lines=1 short=4 strategy=fewest expires=<time>
            > RELEASE alloc=N
            < done seq=25 res=N.1 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < OK count=1
            > ALLOCATE sku=TSHIRT-M qty=5 region=FR-N exclude=LIL alloc=E
            < line res=E.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=E.2 wh=LYS qty=2 held=2 awaiting=0 promise=now
            < OK seq=26 alloc=E sku=TSHIRT-M qty=5 lines=2 short=0 strategy=fewest expires=<time>
            > RELEASE alloc=E
            < done seq=27 res=E.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=28 res=E.2 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            < OK count=2
            > ALLOT sku=TSHIRT-M wh=LIL channel=b2b qty=4
            < OK seq=29 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            > CHANNEL channel=mkp share=50
            < OK seq=30 channel=mkp share=50
            > ALLOCATE sku=TSHIRT-M qty=5 region=FR-N channel=mkp
            < ERR INSUFFICIENT available=4 requested=5 avail=PAR:1,LIL:1,LYS:2
            > ALLOCATE sku=TSHIRT-M qty=6 region=FR-N channel=b2b strategy=rank alloc=B priority=2
            < line res=B.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=B.2 wh=LIL qty=3 held=3 awaiting=0 promise=now
            < OK seq=31 alloc=B sku=TSHIRT-M qty=6 lines=2 short=0 strategy=rank expires=<time>
            > RESERVATIONS alloc=B
            < reservation res=B.1 sku=TSHIRT-M wh=PAR qty=3 expires=<time> held=3 awaiting=0 lines=- promise=now late=no priority=2 channel=b2b alloc=B
            < reservation res=B.2 sku=TSHIRT-M wh=LIL qty=3 expires=<time> held=3 awaiting=0 lines=- promise=now late=no priority=2 channel=b2b alloc=B
            < OK rows=2 seq=31
            > CHANNELS sku=TSHIRT-M wh=LIL channel=b2b
            < channel sku=TSHIRT-M wh=LIL channel=b2b fence=1 share=100 buffer=0 max=none low=0 view=3 held=3 sold_7d=0
            < OK rows=1 seq=31
            > RELEASE alloc=B
            < done seq=32 res=B.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=33 res=B.2 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < OK count=2
            > CHANNELS sku=TSHIRT-M wh=LIL channel=b2b
            < channel sku=TSHIRT-M wh=LIL channel=b2b fence=4 share=100 buffer=0 max=none low=0 view=6 held=0 sold_7d=0
            < OK rows=1 seq=33
            > EXPECT sku=TSHIRT-M wh=LYS qty=10 eta=2099-12-01T00:00:00Z po=PO-7
            < OK seq=34 po=PO-7 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no
            > ALLOCATE sku=TSHIRT-M qty=16 region=FR-N backorder=po alloc=W ref=ORD-W
            < line res=W.1 wh=PAR qty=3 held=3 awaiting=0 promise=now
            < line res=W.2 wh=LIL qty=2 held=2 awaiting=0 promise=now
            < line res=W.3 wh=LYS qty=11 held=4 awaiting=7 promise=2099-12-01T00:00:00Z
            < OK seq=35 alloc=W sku=TSHIRT-M qty=16 lines=3 short=0 strategy=fewest expires=<time>
            > RESERVATIONS alloc=W
            < reservation res=W.1 sku=TSHIRT-M wh=PAR qty=3 expires=<time> ref=ORD-W held=3 awaiting=0 lines=- promise=now late=no priority=5 alloc=W
            < reservation res=W.2 sku=TSHIRT-M wh=LIL qty=2 expires=<time> ref=ORD-W held=2 awaiting=0 lines=- promise=now late=no priority=5 alloc=W
            < reservation res=W.3 sku=TSHIRT-M wh=LYS qty=11 expires=<time> ref=ORD-W held=4 awaiting=7 lines=PO-7:7 promise=2099-12-01T00:00:00Z late=no priority=5 alloc=W
            < OK rows=3 seq=35
            > RELEASE alloc=W
            < done seq=36 res=W.1 sku=TSHIRT-M wh=PAR on_hand=3 reserved=0 available=3 breach=no
            < done seq=37 res=W.2 sku=TSHIRT-M wh=LIL on_hand=6 reserved=0 available=6 breach=no
            < done seq=38 res=W.3 sku=TSHIRT-M wh=LYS on_hand=4 reserved=0 available=4 breach=no promised=0
            < OK count=3
            > EVENTS from=29
            < event seq=29 at=<time> kind=allotted actor=<uid> sku=TSHIRT-M wh=LIL channel=b2b qty=4
            < event seq=30 at=<time> kind=channel_set actor=<uid> channel=mkp share=50
            < event seq=31 at=<time> kind=allocated actor=<uid> sku=TSHIRT-M alloc=B lines=B.1@PAR:3,B.2@LIL:3 expires=<time> requested=6 strategy=rank priority=2 channel=b2b
            < event seq=32 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=PAR qty=3 res=B.1 channel=b2b
            < event seq=33 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=LIL qty=3 res=B.2 channel=b2b fence_back=3
            < event seq=34 at=<time> kind=expected actor=<uid> sku=TSHIRT-M wh=LYS qty=10 po=PO-7 eta=2099-12-01T00:00:00Z
            < event seq=35 at=<time> kind=allocated actor=<uid> sku=TSHIRT-M alloc=W lines=W.1@PAR:3,W.2@LIL:2,W.3@LYS:4 expires=<time> requested=16 strategy=fewest backorder=po awaiting=PO-7:7 ref=ORD-W
            < event seq=36 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=PAR qty=3 res=W.1
            < event seq=37 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=LIL qty=2 res=W.2
            < event seq=38 at=<time> kind=released actor=<uid> sku=TSHIRT-M wh=LYS qty=4 res=W.3 gave_up=W.3:7
            < OK rows=10 seq=38
            """, mode)
    }

    /// FEATURES.md §1c: inside a batch, an ALLOCATE's `done` row carries `lines=T1.1@LYS:4`; each
    /// allocation sees the ones before it.
    @Test("ALLOCATEs in a batch see each other; their done rows name the lines")
    func allocationsInABatch() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let client = try daemon.client()
        for write in ["RECEIVE sku=T wh=PAR qty=3", "RECEIVE sku=T wh=LYS qty=4", "ROUTE region=FR wh=PAR,LYS"] {
            #expect(try client.request(write).status.hasPrefix("OK seq="))
        }
        for request in ["BEGIN", "ALLOCATE sku=T qty=4 region=FR alloc=T1", "ALLOCATE sku=T qty=2 region=FR alloc=T2"] {
            #expect(try client.request(request).status.hasPrefix("OK"))
        }
        let done = try client.request("COMMIT")
        #expect(done.count == 3 && done.status == "OK count=2", "\(done)")
        #expect(done.first.map { field("alloc", $0) == "T1" && number("qty", $0) == 4 } == true, "\(done)")
        #expect(try client.request("RESERVATIONS alloc=T2").first.map { field("wh", $0) == "PAR" } == true)
        #expect(done.first.flatMap { field("lines", $0) } == "T1.1@LYS:4", "\(done)")
        #expect(done.dropFirst().first.flatMap { field("lines", $0) } == "T2.1@PAR:2", "\(done)")
    }

    /// 32 clients, each on its own thread and connection, allocate two skus across 4 warehouses at
    /// once (40 on hand each, 8 fenced for b2b, mkp at share=50 buffer=2): every strategy, all or
    /// nothing and partial, no channel, mkp or b2b, by region or by list, releasing some of their own
    /// allocations as they go. No warehouse is oversold, no fence is taken by another channel, each
    /// all-or-nothing reply is whole or refused, the reservations are exactly the open lines the
    /// replies gave, and `stockctl verify` accepts the log.
    @Test("32 clients allocating at once never oversell a warehouse or a fence; all or nothing is whole or refused")
    func concurrentAllocations() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let skus = ["S1", "S2"], warehouses = ["W1", "W2", "W3", "W4"]
        let onHand: Int64 = 40, fence: Int64 = 8
        let setup = try daemon.client()
        var writes = ["CHANNEL channel=mkp share=50 buffer=2", "ROUTE region=EU wh=W1,W2,W3,W4", "ROUTE region=EAST wh=W4,W3"]
        for sku in skus {
            for wh in warehouses {
                writes += ["RECEIVE sku=\(sku) wh=\(wh) qty=\(onHand)", "ALLOT sku=\(sku) wh=\(wh) channel=b2b qty=\(fence)"]
            }
        }
        for write in writes { #expect(try setup.request(write).status.hasPrefix("OK seq="), "\(write)") }

        let outcomes = AllocationOutcomes()
        let socketPath = daemon.socketPath  // a String crosses threads; the process object stays here
        let ready = DispatchGroup(), finished = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for clientIndex in 0..<32 {
            ready.enter()
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                let client = try? LineClient(path: socketPath)
                ready.leave()
                start.wait()
                guard let client else { return outcomes.problem("client \(clientIndex) could not connect") }
                var mine: [String] = []
                for step in 0..<15 {
                    let n = clientIndex * 15 + step
                    if step % 5 == 4, let alloc = mine.popLast() {
                        outcomes.record(.init(request: "RELEASE alloc=\(alloc)", alloc: alloc, reply: (try? client.request("RELEASE alloc=\(alloc)")) ?? []))
                        continue
                    }
                    let sku = skus[n % 2], alloc = "c\(clientIndex)-\(step)"
                    let channel = ["", " channel=mkp", " channel=b2b", ""][clientIndex % 4]
                    let target = [" region=EU", " region=EAST", " wh=W2,W1", " wh=W3,W4,W1"][(n / 2) % 4]
                    let strategy = ["fewest", "rank", "stock", "surplus"][(n / 3) % 4]
                    let request = "ALLOCATE sku=\(sku) qty=\(1 + (n * 7) % 12)\(target) strategy=\(strategy) partial=\(step % 2 == 0 ? "yes" : "no")\(channel) alloc=\(alloc)"
                    let reply = (try? client.request(request)) ?? []
                    outcomes.record(.init(request: request, alloc: alloc, reply: reply))
                    if reply.status.hasPrefix("OK") { mine.append(alloc) }
                }
            }
        }
        ready.wait()
        for _ in 0..<32 { start.signal() }
        finished.wait()
        #expect(outcomes.problems.isEmpty, "\(outcomes.problems)")

        // Each reply on its own: whole or refused unless partial; a RELEASE closes every line.
        var open: [String: [(res: String, wh: String, held: Int64)]] = [:]
        var refused = 0, partial = 0
        for outcome in outcomes.all {
            let status = outcome.reply.status
            if outcome.request.hasPrefix("RELEASE") {
                #expect(status == "OK count=\(open[outcome.alloc]?.count ?? -1)" && outcome.reply.dropLast().allSatisfy { $0.hasPrefix("done ") },
                        "\(outcome.request): \(outcome.reply)")
                open[outcome.alloc] = nil
                continue
            }
            let requested = try #require(number("qty", outcome.request))
            let wholeOnly = outcome.request.contains("partial=no")
            if status.hasPrefix("ERR") {
                refused += 1
                let available = number("available", status) ?? -1
                #expect(status.hasPrefix("ERR INSUFFICIENT available=") && available < requested && field("avail", status) != nil
                        && (wholeOnly || available == 0), "\(outcome.request): \(status)")
                continue
            }
            let lines = outcome.reply.dropLast()
            let units = lines.reduce(Int64(0)) { $0 + (number("qty", $1) ?? 0) }
            let short = number("short", status) ?? -1
            #expect(status.hasPrefix("OK seq=") && number("qty", status) == units && units + short == requested && units > 0
                    && (!wholeOnly || short == 0) && Set(lines.compactMap { field("wh", $0) }).count == lines.count,
                    "\(outcome.request): \(outcome.reply)")
            if short > 0 { partial += 1 }
            open[outcome.alloc] = lines.map { (field("res", $0) ?? "", field("wh", $0) ?? "", number("held", $0) ?? -1) }
        }
        #expect(refused > 0 && partial > 0 && !open.isEmpty, "the run met no contention: \(refused) refused, \(partial) partial")

        // The ledger after: the reservations are the open lines; no warehouse or fence oversold.
        let reader = try daemon.client()
        let rows = try reader.request("RESERVATIONS").dropLast()
        var listed: [String: [(res: String, wh: String, held: Int64)]] = [:]
        var heldBy: [String: (b2b: Int64, others: Int64)] = [:]
        for row in rows {
            let alloc = field("alloc", row) ?? "-", sku = field("sku", row) ?? "", wh = field("wh", row) ?? ""
            // Rows of pairs that never used promises have no held=: all of qty is held.
            let held = number("held", row) ?? number("qty", row) ?? 0
            listed[alloc, default: []].append((field("res", row) ?? "", wh, held))
            let key = "\(sku)/\(wh)"
            if field("channel", row) == "b2b" { heldBy[key, default: (0, 0)].b2b += held } else { heldBy[key, default: (0, 0)].others += held }
        }
        func sorted(_ lines: [(res: String, wh: String, held: Int64)]) -> [String] { lines.map { "\($0.res)@\($0.wh):\($0.held)" }.sorted() }
        #expect(listed.keys.sorted() == open.keys.sorted())
        for (alloc, lines) in open { #expect(sorted(listed[alloc] ?? []) == sorted(lines), "\(alloc)") }
        for sku in skus {
            let stock = try reader.request("STOCK sku=\(sku)").filter { $0.hasPrefix("stock ") }
            let channels = try reader.request("CHANNELS sku=\(sku)").dropLast()
            #expect(stock.count == warehouses.count)
            for row in stock {
                let wh = field("wh", row) ?? "", held = heldBy["\(sku)/\(wh)", default: (0, 0)]
                let fenced = number("fenced", row) ?? -1, available = number("available", row) ?? -1
                #expect(number("on_hand", row) == onHand && number("reserved", row) == held.b2b + held.others, "\(row)")
                #expect(available >= 0 && fenced >= 0 && fenced <= available && number("free", row) == available - fenced, "\(row)")
                // mkp and writes of no channel take only the free pool: never the 8 fenced for b2b.
                #expect(held.others <= onHand - fence, "\(sku)/\(wh): others hold \(held.others)")
                // What b2b drew from its fence it holds: fence left + b2b held covers the fence set.
                let b2b = try #require(channels.first { field("wh", $0) == wh && field("channel", $0) == "b2b" })
                #expect((number("fence", b2b) ?? -1) >= 0 && (number("fence", b2b) ?? 0) + held.b2b >= fence, "\(b2b)")
            }
            #expect(channels.allSatisfy { (number("view", $0) ?? -1) >= 0 && (number("fence", $0) ?? -1) >= 0 }, "\(channels)")
        }
        #expect(daemon.stop() == 0)
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0, "\(verify.output)")
    }

    /// The campaign: 200 on hand, 50 fenced for b2b, mkp at share=50 buffer=5 low=10. Ten mkp
    /// clients sell one unit at a time against one web client (mkp at 10× the rate) until refused.
    /// mkp stops when its share is gone, web when the free pool is; the b2b fence is whole, and the
    /// B2B desk holds all 50. A `WATCH channels channel=mkp` watcher got `channel_low` then
    /// `channel_out`, each with the seq of the sale at which mkp's view crossed (`STOCK at=` says so).
    @Test("a marketplace selling at 10× its rate cannot take the B2B fence; WATCH channels says when it runs low and out")
    func campaign() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let client = try daemon.client()
        for write in ["RECEIVE sku=LAMP wh=PAR qty=200", "ALLOT sku=LAMP wh=PAR channel=b2b qty=50",
                      "CHANNEL channel=mkp share=50 buffer=5 low=10"] {
            #expect(try client.request(write).status.hasPrefix("OK seq="), "\(write)")
        }
        let watcher = try daemon.client()
        try watcher.watch("channels channel=mkp sku=LAMP")
        let sold = ChannelSales()
        let socketPath = daemon.socketPath  // a String crosses threads; the process object stays here
        let group = DispatchGroup()
        for seller in 0..<11 {
            let channel = seller < 10 ? "mkp" : "web"
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                guard let c = try? LineClient(path: socketPath) else { return }
                while let reply = try? c.request("SELL sku=LAMP wh=PAR qty=1 channel=\(channel)") {
                    guard reply.status.hasPrefix("OK") else {
                        sold.refused(channel, reply.status)
                        return
                    }
                    sold.add(channel)
                }
            }
        }
        group.wait()
        let mkp = sold.count("mkp"), web = sold.count("web")
        #expect(sold.refusals.allSatisfy { $0.hasPrefix("ERR INSUFFICIENT available=0 ") }, "\(sold.refusals)")
        // mkp sells while floor(free / 2) − 5 ≥ 1, so at least 11 units stay free when it stops; web
        // takes the free pool down to 0, and no seller any of the fence.
        #expect(mkp > 0 && mkp <= 150 - 11 && mkp + web == 150, "mkp sold \(mkp), web \(web)")
        let channels = try client.request("CHANNELS sku=LAMP wh=PAR")
        let b2b = try #require(channels.first { field("channel", $0) == "b2b" })
        let mkpRow = try #require(channels.first { field("channel", $0) == "mkp" })
        #expect(number("fence", b2b) == 50 && number("view", b2b) == 50 && number("view", mkpRow) == 0, "\(channels)")
        #expect(try client.request("SELL sku=LAMP wh=PAR qty=1 channel=mkp").status.hasPrefix("ERR INSUFFICIENT available=0 "))
        let desk = try client.request("RESERVE sku=LAMP wh=PAR qty=50 channel=b2b ref=DESK-1")
        #expect(desk.status.hasPrefix("OK seq=") && number("available", desk.status) == 0, "\(desk)")

        // The pushes, in order, and the seq each names is where mkp's view crossed.
        var pushes: [String] = []
        while pushes.last?.hasPrefix("channel_out ") != true, let line = try watcher.readLine() { pushes.append(line) }
        #expect(pushes.map { $0.prefix { $0 != " " } } == ["channel_low", "channel_out"], "\(pushes)")
        func view(at seq: Int64) throws -> Int64? {
            try client.request("STOCK sku=LAMP wh=PAR at=seq:\(seq) channel=mkp").first.flatMap { number("view", $0) }
        }
        for (push, level) in zip(pushes, [Int64(10), 0]) {
            let seq = try #require(number("seq", push))
            let before = try #require(try view(at: seq - 1)), after = try #require(try view(at: seq))
            #expect(after <= level && before > level && number("view", push) == after, "\(push): view \(before) then \(after)")
        }
    }

    /// Fences, channel rules, routes, allocations (their lines, channel and fence parts) and channel
    /// holds answer the same after a clean stop (from the checkpoint) and after a kill (the log tail
    /// folded again); retries of ALLOCATE answer their lines with dup=yes, RELEASE alloc= still gives
    /// each line's fence part back, an alloc id stays used.
    @Test("a restart keeps fences, rules, routes and allocations: from a checkpoint, and from a log tail folded again")
    func restartsKeepChannelsAndAllocations() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        try daemon.start()
        let reads = ["STOCK sku=T channel=b2b", "STOCK sku=T channel=mkp", "CHANNELS sku=T", "RESERVATIONS",
                     "RESERVATIONS alloc=A1", "RESERVATIONS channel=b2b", "STOCK sku=T at=seq:6 channel=mkp"]
        func answers() throws -> [[String]] {
            let client = try daemon.client()
            return try reads.map { try client.request($0) }
        }
        func stat(_ name: String) throws -> Int? {
            let output = try run("stockctl", ["stat", "--data", daemon.dataDirectory]).output
            return output.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) }
        }
        let writes = [
            "RECEIVE sku=T wh=PAR qty=20", "RECEIVE sku=T wh=LIL qty=10", "RECEIVE sku=T wh=LYS qty=5",
            "ALLOT sku=T wh=PAR channel=b2b qty=6", "ALLOT sku=T wh=LIL channel=b2b qty=4 until=2099-01-01T00:00:00Z",
            "CHANNEL channel=mkp share=50 buffer=1", "POLICY sku=T wh=LIL channel=mkp share=20 max=3",
            "ROUTE region=FR wh=LIL,PAR,LYS", "ALLOCATE sku=T qty=12 region=FR channel=b2b strategy=rank alloc=A1 ref=O-1 id=k-a1",
            "RESERVE sku=T wh=LYS qty=1 channel=mkp res=m1",
        ]
        var client = try daemon.client()
        var replies: [String: [String]] = [:]
        for write in writes {
            replies[write] = try client.request(write)
            #expect(replies[write]?.status.hasPrefix("OK seq=") == true, "\(write)")
        }
        let atCheckpoint = try answers()
        #expect(atCheckpoint[4].count == 3 && atCheckpoint[2].count == 6, "\(atCheckpoint)")

        #expect(daemon.stop() == 0)
        #expect(try stat("checkpoint_seq") == writes.count)
        try daemon.start()
        #expect(try answers() == atCheckpoint)

        // No checkpoint while these are written, then a kill: the next start folds them from the log.
        #expect(daemon.stop() == 0)
        daemon.extraArguments = ["--checkpoint-interval-ms", "3600000", "--checkpoint-events", "100000000"]
        try daemon.start()
        client = try daemon.client()
        let tail = [
            "ALLOT sku=T wh=LYS channel=b2b qty=1", "CHANNEL channel=mkp share=80", "POLICY sku=T wh=LIL channel=mkp inherit=yes",
            "ROUTE region=SUD wh=LYS,PAR", "ALLOCATE sku=T qty=3 region=SUD channel=mkp alloc=A2 id=k-a2",
            "ADJUST sku=T wh=PAR delta=-13 reason=loss",
        ]
        for write in tail {
            replies[write] = try client.request(write)
            #expect(replies[write]?.status.hasPrefix("OK seq=") == true, "\(write)")
        }
        let inTail = try answers()
        #expect(inTail != atCheckpoint)
        daemon.stop(signal: SIGKILL)
        #expect(try stat("checkpoint_seq") == writes.count)
        daemon.extraArguments = []
        try daemon.start()
        #expect(try answers() == inTail)

        // Retries of an allocation checkpointed and of one folded from the tail answer their lines again.
        client = try daemon.client()
        for write in [writes[8], tail[4]] {
            let first = try #require(replies[write])
            #expect(try client.request(write) == first.dropLast() + [first.status + " dup=yes"], "\(write)")
        }
        // The decisions still work from what was restored.
        let fences = { (wh: String) throws -> Int64? in
            try client.request("CHANNELS sku=T wh=\(wh) channel=b2b").first.flatMap { number("fence", $0) }
        }
        let (parBefore, lilBefore) = (try fences("PAR"), try fences("LIL"))
        let released = try client.request("RELEASE alloc=A1")
        #expect(released.status == "OK count=2", "\(released)")
        #expect(try fences("LIL") == (lilBefore ?? 0) + 4 && (try fences("PAR") ?? -1) > (parBefore ?? 0), "fences \(parBefore ?? -1), \(lilBefore ?? -1)")
        #expect(try client.request("ALLOCATE sku=T qty=1 region=FR alloc=A2").status == "ERR STATE alloc=A2 exists")
        #expect(try client.request("ALLOCATE sku=T qty=1 region=SUD strategy=rank alloc=A3").first.map { field("wh", $0) } == "LYS")
        #expect(daemon.stop() == 0)
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0, "\(verify.output)")
    }
}

/// What each client sent and got back, collected from many threads.
// Shared across threads safely: its stored state is touched only with `lock` held.
final class AllocationOutcomes: @unchecked Sendable {
    struct Outcome: Sendable {
        var request: String
        var alloc: String
        var reply: [String]
    }
    private let lock = NSLock()
    private var outcomes: [Outcome] = []
    private var found: [String] = []
    func record(_ outcome: Outcome) { lock.lock(); outcomes.append(outcome); lock.unlock() }
    func problem(_ text: String) { lock.lock(); found.append(text); lock.unlock() }
    /// In the order they were recorded: each client's own requests keep their order.
    var all: [Outcome] { lock.lock(); defer { lock.unlock() }; return outcomes }
    var problems: [String] { lock.lock(); defer { lock.unlock() }; return found }
}

/// Units sold per channel, and the refusals that stopped each seller.
// Shared across threads safely: its stored state is touched only with `lock` held.
final class ChannelSales: @unchecked Sendable {
    private let lock = NSLock()
    private var sold: [String: Int64] = [:]
    private var stops: [String] = []
    func add(_ channel: String) { lock.lock(); sold[channel, default: 0] += 1; lock.unlock() }
    func refused(_ channel: String, _ status: String) { lock.lock(); stops.append(status); lock.unlock() }
    func count(_ channel: String) -> Int64 { lock.lock(); defer { lock.unlock() }; return sold[channel] ?? 0 }
    var refusals: [String] { lock.lock(); defer { lock.unlock() }; return stops }
}
