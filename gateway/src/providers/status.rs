//! What each provider reports beside its configuration (today: the Consul provider holding
//! its last committed configuration), shared with the API's `/api/overview`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// A provider's state, as `/api/overview` shows it under `providerStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderState {
    /// `ok`: what the provider holds is in service; `writing`: a change is being written and
    /// applies when committed; `held`: what the provider holds is not applied (see `message`).
    pub state: &'static str,
    /// The commit generation in service, when the configuration has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// What is going on, when the state is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

static STATES: RwLock<BTreeMap<&'static str, ProviderState>> = RwLock::new(BTreeMap::new());

/// Records `provider`'s state.
pub fn report(provider: &'static str, state: ProviderState) {
    STATES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(provider, state);
}

/// Every provider's last reported state, by provider name.
pub fn states() -> BTreeMap<&'static str, ProviderState> {
    STATES.read().unwrap_or_else(|e| e.into_inner()).clone()
}
