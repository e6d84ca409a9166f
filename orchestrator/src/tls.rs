//! TLS for polyclaw's HTTP clients (remote servers, the `[llm]` endpoint): rustls on the `ring`
//! provider, installed once as the process default. reqwest and rmcp's HTTP client are built
//! without a provider of their own (`rustls-no-provider`), so a client built before
//! [`install_provider`] would panic: every place that builds one calls it first.

use std::sync::Once;

/// Makes `ring` the process's rustls provider, once; cheap to call again. If something else
/// installed a provider first, that one stays.
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means a provider is already installed: it is used as it is.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_https_client_can_be_built_after_install() {
        super::install_provider();
        super::install_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert!(reqwest::Client::builder().build().is_ok());
    }
}
