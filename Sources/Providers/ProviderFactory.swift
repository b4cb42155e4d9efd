import CurlHTTP
import Settings

/// Builds the provider a tier's settings describe.
public enum ProviderFactory {
    public static func make(_ settings: TierSettings, http: HTTPClient) -> any ChatProvider {
        switch settings.kind {
        case .openai: return OpenAIProvider(settings: settings, http: http)
        case .anthropic: return AnthropicProvider(settings: settings, http: http)
        }
    }
}
