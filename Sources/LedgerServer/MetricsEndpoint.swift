import NIOCore
import NIOHTTP1
import NIOPosix

/// The optional HTTP endpoint (`stockd --metrics-listen 127.0.0.1:PORT`): `GET /metrics` answers the
/// Prometheus text exposition, anything else 404 (405 for another method). It shares the event
/// loops with the Unix socket; the text is made on the read pool, off the event loops.
enum MetricsEndpoint {
    /// The content type of the Prometheus text format, version 0.0.4.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func bind(host: String, port: Int, group: EventLoopGroup, shared: ServerShared) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(shared: shared))
                }
            }
            .bind(host: host, port: port).get()
    }
}

final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let shared: ServerShared
    private var head: HTTPRequestHead?

    init(shared: ServerShared) { self.shared = shared }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard path == "/metrics" else { return respond(context, head, .notFound, "not found; try /metrics\n") }
            guard head.method == .GET else { return respond(context, head, .methodNotAllowed, "GET only\n") }
            let reads = shared.reads
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            shared.readPool.runIfActive(eventLoop: context.eventLoop) { reads.metricsText() }.whenComplete { result in
                switch result {
                case .success(let text):
                    handler.value.respond(bound.value, head, .ok, text, contentType: MetricsEndpoint.contentType)
                case .failure(let error):
                    handler.value.respond(bound.value, head, .serviceUnavailable, "\(error)\n")
                }
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus,
                         _ body: String, contentType: String = "text/plain; charset=utf-8") {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
