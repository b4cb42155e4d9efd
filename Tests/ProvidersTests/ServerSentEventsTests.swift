import Testing

@testable import Providers

/// The event-stream parser that reads vLLM's, llama.cpp's and Anthropic's streams.
@Suite struct ServerSentEventsTests {
    @Test func dataEventsAndTheDoneMarker() throws {
        var parser = ServerSentEvents()
        let events = try parser.feed(Array("data: {\"a\":1}\n\ndata: [DONE]\n\n".utf8))
        #expect(events == [.init(data: "{\"a\":1}"), .init(data: "[DONE]")])
        #expect(!parser.hasPartialEvent)
    }

    @Test func namedEventsCommentsAndCRLF() throws {
        var parser = ServerSentEvents()
        let text = ": ping\r\nevent: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\nevent: ping\ndata: {}\n\n"
        let events = try parser.feed(Array(text.utf8))
        #expect(events.map(\.name) == ["message_start", "ping"])
        #expect(events.first?.data == "{\"type\":\"message_start\"}")
    }

    @Test func anEventSplitAnywhereIsReadWhole() throws {
        let text = "event: content_block_delta\ndata: {\"text\":\"caffè ☕\"}\n\ndata: second\n\n"
        let bytes = Array(text.utf8)
        // Every split point, including inside the multi-byte characters and between CR and LF.
        for split in 0...bytes.count {
            var parser = ServerSentEvents()
            var events = try parser.feed(bytes[..<split])
            events += try parser.feed(bytes[split...])
            #expect(events.count == 2)
            #expect(events.first?.data == "{\"text\":\"caffè ☕\"}")
            #expect(events.last?.data == "second")
        }
    }

    @Test func multipleDataLinesJoinWithLineFeeds() throws {
        var parser = ServerSentEvents()
        let events = try parser.feed(Array("id: 7\ndata: one\ndata:two\n\n".utf8))
        #expect(events == [.init(data: "one\ntwo", id: "7")])
    }

    @Test func aStreamCutMidEventLeavesAPartialEvent() throws {
        var parser = ServerSentEvents()
        let events = try parser.feed(Array("data: {\"a\":1}\n\ndata: {\"b\"".utf8))
        #expect(events.count == 1)
        #expect(parser.hasPartialEvent)
    }

    @Test func anEventLargerThanTheLimitIsAnError() {
        var parser = ServerSentEvents(maxEventBytes: 64)
        #expect(throws: ServerSentEvents.Overflow.self) {
            _ = try parser.feed(Array(("data: " + String(repeating: "x", count: 100)).utf8))
        }
    }

    @Test func thinkFilterHoldsAnOpeningThinkBlock() {
        var filter = ThinkFilter()
        #expect(filter.release(" <th") == "")
        #expect(filter.release("ink>reasoning") == "")
        #expect(filter.release(" more</thi") == "")
        #expect(filter.release("nk>\n\nThe answer") == "The answer")
        #expect(filter.release(" goes on.") == " goes on.")
    }

    @Test func thinkFilterReleasesOrdinaryTextAtOnce() {
        var filter = ThinkFilter()
        #expect(filter.release("Hello") == "Hello")
        #expect(filter.release(" <think> is just text now") == " <think> is just text now")
        var prefix = ThinkFilter()
        #expect(prefix.release("<") == "")
        #expect(prefix.release("b>bold</b>") == "<b>bold</b>")
    }
}
