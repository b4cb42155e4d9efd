import Foundation
import Settings

/// A file in a fresh temporary directory, removed by `remove()`.
struct TemporaryFile {
    let path: String

    init(_ contents: String, name: String = "file") throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent(name).path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}

/// Applies `toml` to default settings; the error, if any, is returned for inspection.
func applying(_ toml: String) throws(SettingsError) -> CervellaSettings {
    var settings = CervellaSettings()
    try settings.apply(toml: toml)
    return settings
}

/// Applies `environment` to default settings (no file, no secrets, no validation).
func applying(environment: [String: String]) throws(SettingsError) -> CervellaSettings {
    var settings = CervellaSettings()
    try settings.apply(environment: environment)
    return settings
}

/// The repository's own `worker.toml`, found from this source file.
let repositoryWorkerTOML = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // SettingsTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // repository root
    .appendingPathComponent("worker.toml").path
