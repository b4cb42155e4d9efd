import Foundation
import JobProtocol
import Testing

@Suite struct ChatMessageTests {
    static func decode(_ json: String) throws -> ChatMessage {
        try JSONDecoder().decode(ChatMessage.self, from: Data(json.utf8))
    }

    @Test func stringContentDecodesAsText() throws {
        let message = try Self.decode(#"{"role":"user","content":"Ciao, come stai?"}"#)
        #expect(message.role == "user")
        #expect(message.content == .text("Ciao, come stai?"))
        #expect(message.text == "Ciao, come stai?")
        #expect(!message.hasNonTextParts)
    }

    @Test func textPartsAreJoinedWithNewlines() throws {
        let message = try Self.decode(#"{"role":"user","content":[{"type":"text","text":"uno"},{"type":"text","text":"due"}]}"#)
        #expect(message.text == "uno\ndue")
        #expect(!message.hasNonTextParts)
    }

    @Test func imagePartMarksAMultimodalMessageAndIsLeftOutOfTheText() throws {
        let message = try Self.decode(
            #"{"role":"user","content":[{"type":"text","text":"Cosa vedi?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}"#)
        #expect(message.hasNonTextParts)
        #expect(message.text == "Cosa vedi?")
    }

    @Test func anthropicStyleImagePartIsNonText() throws {
        let message = try Self.decode(
            #"{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}"#)
        #expect(message.hasNonTextParts)
        #expect(message.text == "")
    }

    @Test func stringContentEncodesAsAPlainString() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(ChatMessage(role: "assistant", content: "ok"))
        #expect(String(decoding: data, as: UTF8.self) == #"{"content":"ok","role":"assistant"}"#)
    }

    @Test func partsSurviveARoundTrip() throws {
        let message = ChatMessage(
            role: "user",
            content: .parts([
                .object(["type": .string("text"), "text": .string("a")]),
                .object(["type": .string("input_audio"), "input_audio": .object(["format": .string("wav")])]),
            ]))
        let decoded = try JSONDecoder().decode(ChatMessage.self, from: try JSONEncoder().encode(message))
        #expect(decoded == message)
    }

    @Test func contentThatIsNeitherStringNorArrayIsRejected() {
        #expect(throws: DecodingError.self) { try Self.decode(#"{"role":"user","content":42}"#) }
        #expect(throws: DecodingError.self) { try Self.decode(#"{"role":"user","content":{"type":"text","text":"x"}}"#) }
    }
}
