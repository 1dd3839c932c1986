/// The PostgreSQL schema, by version. `--init-schema` applies the versions the database lacks, in one
/// transaction, and records each in `stockd_schema`; a version once released never changes (a change
/// is a new version with its own statements).
enum Schema {
    static func statements(forVersion version: Int) -> [String] {
        switch version {
        case 1: version1
        default: preconditionFailure("no schema version \(version)")
        }
    }

    static let version1: [String] = [
        // Every event of every site, as stockd logged it. (site, seq) is the primary key: the relay
        // can never write an event twice, and a retry of a committed batch fails instead.
        """
        create table stockd_events (
            site text not null,
            seq bigint not null,
            recorded_at timestamptz not null,
            kind text not null,
            sku text,
            wh text,
            fields jsonb not null,
            primary key (site, seq)
        )
        """,
        // The latest buckets of each (sku, wh) of each site, as stockd computed them after the event
        // `seq`. An upsert only moves a row forward (where stockd_stock.seq <= excluded.seq).
        """
        create table stockd_stock (
            site text not null,
            sku text not null,
            wh text not null,
            on_hand bigint not null,
            reserved bigint not null,
            available bigint not null,
            inbound bigint not null,
            incoming bigint not null,
            seq bigint not null,
            primary key (site, sku, wh)
        )
        """,
        // Network queries go by sku across sites.
        "create index stockd_stock_sku on stockd_stock (sku)",
        // Each site's position: the last event relayed, its time, and when the relay wrote it. It
        // moves in the same transaction as the events.
        """
        create table stockd_sites (
            site text primary key,
            last_seq bigint not null default 0,
            last_event_at timestamptz,
            relayed_at timestamptz
        )
        """,
        // Per sku across every site and warehouse.
        """
        create view stockd_network_stock as
        select sku,
               sum(on_hand)::bigint as on_hand, sum(reserved)::bigint as reserved,
               sum(available)::bigint as available, sum(inbound)::bigint as inbound,
               sum(incoming)::bigint as incoming,
               (sum(available) + sum(inbound) + sum(incoming))::bigint as projected,
               count(distinct site) as sites, count(*) as warehouses
        from stockd_stock
        group by sku
        """,
        // Per sku and site, across the site's warehouses.
        """
        create view stockd_network_stock_by_site as
        select sku, site,
               sum(on_hand)::bigint as on_hand, sum(reserved)::bigint as reserved,
               sum(available)::bigint as available, sum(inbound)::bigint as inbound,
               sum(incoming)::bigint as incoming,
               (sum(available) + sum(inbound) + sum(incoming))::bigint as projected,
               count(*) as warehouses
        from stockd_stock
        group by sku, site
        """,
        // How far behind each site's copy is: by the log's clock and by the relay's.
        """
        create view stockd_site_lag as
        select site, last_seq, last_event_at, relayed_at,
               now() - last_event_at as since_last_event,
               now() - relayed_at as since_relayed
        from stockd_sites
        """,
    ]
}
