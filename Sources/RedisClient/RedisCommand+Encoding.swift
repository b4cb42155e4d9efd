extension RedisCommand {
    /// Appends the command in Redis's wire format (RESP): `*<count>` and, per argument,
    /// `$<length>`, the bytes, each line ended by CRLF. Lengths prefix every argument, so any
    /// bytes are safe.
    func encode(into buffer: inout [UInt8]) {
        var size = 16
        for argument in arguments { size = size &+ argument.count &+ 24 }
        buffer.reserveCapacity(buffer.count &+ size)
        buffer.append(UInt8(ascii: "*"))
        Self.appendDecimal(arguments.count, to: &buffer)
        for argument in arguments {
            buffer.append(UInt8(ascii: "$"))
            Self.appendDecimal(argument.count, to: &buffer)
            buffer.append(contentsOf: argument)
            buffer.append(UInt8(ascii: "\r"))
            buffer.append(UInt8(ascii: "\n"))
        }
    }

    /// The command alone in the wire format.
    var encoded: [UInt8] {
        var buffer: [UInt8] = []
        encode(into: &buffer)
        return buffer
    }

    /// A count (never negative) in decimal, then CRLF.
    private static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var remaining = UInt(value.magnitude)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { digits in
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
                count += 1
            } while remaining > 0
            buffer.append(contentsOf: digits[(20 - count)...])
        }
        buffer.append(UInt8(ascii: "\r"))
        buffer.append(UInt8(ascii: "\n"))
    }
}
