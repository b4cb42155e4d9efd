import CurlHTTP
import Settings

/// Builds the provider a tier's settings describe.
public enum ProviderFactory {
    /// - Parameter health: the tier's endpoint breakers, if the caller keeps its own; by
    ///   default the provider makes one (probing on for the OpenAI kind, off for Anthropic).
    public static func make(_ settings: TierSettings, http: HTTPClient, health: EndpointHealth? = nil) -> any ChatProvider {
        switch settings.kind {
        case .openai: return OpenAIProvider(settings: settings, http: http, health: health)
        case .anthropic: return AnthropicProvider(settings: settings, http: http, health: health)
        case .instant: return InstantProvider(model: settings.model)
        }
    }
}
