import Foundation
import TOMLKit

/// Typed reads from one TOML table, with errors that name the full key.
struct TOMLReader {
    let root: TOMLTable
    var path: String = ""

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { root[key] != nil }

    func table(_ key: String) throws(SettingsError) -> TOMLReader? {
        guard let value = root[key] else { return nil }
        guard let table = value.table else { throw SettingsError(key: name(key), "must be a table ([\(name(key))])") }
        return TOMLReader(root: table, path: name(key))
    }

    func allowOnly(_ keys: Set<String>, in _: String = "") throws(SettingsError) {
        for key in root.keys where !keys.contains(key) {
            throw SettingsError(key: name(key), "unknown key; known keys here: \(keys.sorted().joined(separator: ", "))")
        }
    }

    func read(_ key: String, into target: inout String) throws(SettingsError) {
        guard let value = root[key] else { return }
        guard let string = value.string else { throw SettingsError(key: name(key), "must be a string") }
        target = string
    }

    func read(_ key: String, into target: inout Int) throws(SettingsError) {
        guard let value = root[key] else { return }
        guard let int = value.int else { throw SettingsError(key: name(key), "must be an integer") }
        target = int
    }

    func read(_ key: String, into target: inout Double) throws(SettingsError) {
        guard let value = root[key] else { return }
        if let double = value.double {
            target = double
        } else if let int = value.int {
            target = Double(int)
        } else {
            throw SettingsError(key: name(key), "must be a number")
        }
    }

    func read(_ key: String, into target: inout Bool) throws(SettingsError) {
        guard let value = root[key] else { return }
        guard let bool = value.bool else { throw SettingsError(key: name(key), "must be true or false") }
        target = bool
    }

    func read(_ key: String, into target: inout [String]) throws(SettingsError) {
        guard let value = root[key] else { return }
        guard let array = value.array else { throw SettingsError(key: name(key), "must be an array of strings") }
        var strings: [String] = []
        for element in array {
            guard let string = element.string else { throw SettingsError(key: name(key), "must be an array of strings") }
            strings.append(string)
        }
        target = strings
    }

    func readEnum<Value: RawRepresentable & CaseIterable>(_ key: String, into target: inout Value) throws(SettingsError)
    where Value.RawValue == String {
        var raw = target.rawValue
        try read(key, into: &raw)
        guard let value = Value(rawValue: raw) else {
            throw SettingsError(key: name(key), "'\(raw)' is not one of: \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        target = value
    }
}

/// Typed reads from environment variables, with errors that name the variable.
struct EnvironmentReader {
    let env: [String: String]

    func string(_ name: String) -> String? {
        guard let value = env[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    func int(_ name: String) throws(SettingsError) -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text) else { throw SettingsError(key: name, "'\(text)' is not an integer") }
        return value
    }

    func read(_ name: String, into target: inout String) throws(SettingsError) {
        if let value = string(name) { target = value }
    }

    func read(_ name: String, into target: inout Int) throws(SettingsError) {
        if let value = try int(name) { target = value }
    }

    func read(_ name: String, into target: inout Double) throws(SettingsError) {
        guard let text = string(name) else { return }
        guard let value = Double(text) else { throw SettingsError(key: name, "'\(text)' is not a number") }
        target = value
    }

    func read(_ name: String, into target: inout Bool) throws(SettingsError) {
        guard let text = string(name)?.lowercased() else { return }
        switch text {
        case "1", "true", "yes", "on": target = true
        case "0", "false", "no", "off": target = false
        default: throw SettingsError(key: name, "'\(text)' is not a boolean; use true or false")
        }
    }
}
