//! Which phone network each client's calls go through, and the one stream of carrier events the
//! call engine consumes. In `simulated` mode every client shares one [`SimCarrier`]; in `twilio`
//! mode each client gets a [`TwilioCarrier`] built from its own stored credentials (cached until
//! the client's settings change). Twilio webhooks and the simulated network both report into
//! [`CarrierHub::events`], so the engine handles one kind of event whatever the network.

use crate::config::{CarrierMode, Settings};
use palera_carrier::sim::behaviour::{Behaviour, Seconds};
use palera_carrier::sim::realtime::SimCarrier;
use palera_carrier::twilio::{Credentials, TwilioCarrier, TwilioConfig};
use palera_carrier::{Carrier, CarrierError, CarrierEvent};
use palera_core::ids::ClientId;
use palera_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The network behaviour of the demo: most people answer quickly so agents get calls.
pub fn demo_behaviour() -> Behaviour {
    Behaviour {
        human_pct: 60.0,
        machine_pct: 15.0,
        busy_pct: 5.0,
        failed_pct: 2.0,
        ring_seconds: Seconds {
            mean: 4.0,
            sd: 2.0,
            min: 1.0,
        },
        talk_seconds: Seconds {
            mean: 45.0,
            sd: 20.0,
            min: 10.0,
        },
        human_hangup_if_waiting_seconds: 6.0,
    }
}

/// The carriers of all clients plus the event stream they report into.
pub struct CarrierHub {
    mode: CarrierMode,
    public_url: String,
    /// Twilio's REST base URL (a mock in tests).
    pub twilio_base_url: Mutex<String>,
    /// Twilio's Conversational Intelligence base URL (a mock in tests).
    pub twilio_intelligence_url: Mutex<String>,
    sim: Option<SimCarrier>,
    twilio: Mutex<HashMap<ClientId, Arc<TwilioCarrier>>>,
    /// Where every carrier event goes (the call engine takes the receiving end).
    pub events: mpsc::UnboundedSender<CarrierEvent>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<CarrierEvent>>>,
    /// Wraps every carrier handed out (tests: a slow or failing network in front of the real one).
    wrap: Option<CarrierWrapper>,
}

/// See [`CarrierHub::wrapped`].
pub type CarrierWrapper = Arc<dyn Fn(Arc<dyn Carrier>) -> Arc<dyn Carrier> + Send + Sync>;

impl CarrierHub {
    pub fn new(settings: &Settings) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let sim = (settings.carrier == CarrierMode::Simulated)
            .then(|| SimCarrier::new(demo_behaviour(), 1, 1.0, tx.clone()));
        Self {
            mode: settings.carrier,
            public_url: settings.public_url.clone().unwrap_or_default(),
            twilio_base_url: Mutex::new("https://api.twilio.com".into()),
            twilio_intelligence_url: Mutex::new(
                palera_carrier::twilio::client::DEFAULT_INTELLIGENCE_URL.into(),
            ),
            sim,
            twilio: Mutex::new(HashMap::new()),
            events: tx,
            receiver: Mutex::new(Some(rx)),
            wrap: None,
        }
    }

    /// A hub on the simulated network with the given behaviour, seed and speed-up (tests).
    pub fn simulated(
        settings: &Settings,
        behaviour: Behaviour,
        seed: u64,
        time_scale: f64,
    ) -> Self {
        let mut hub = Self::new(settings);
        hub.mode = CarrierMode::Simulated;
        hub.sim = Some(SimCarrier::new(
            behaviour,
            seed,
            time_scale,
            hub.events.clone(),
        ));
        hub
    }

    /// This hub, with every carrier it hands out passed through `wrap` (tests).
    pub fn wrapped(mut self, wrap: CarrierWrapper) -> Self {
        self.wrap = Some(wrap);
        self
    }

    pub fn mode(&self) -> CarrierMode {
        self.mode
    }

    /// The simulated network, in simulated mode (its [`SimCarrier::tap`] shows what it does).
    pub fn sim(&self) -> Option<&SimCarrier> {
        self.sim.as_ref()
    }

    /// Hands the event stream to its one consumer (the call engine); `None` after the first call.
    pub fn take_events(&self) -> Option<mpsc::UnboundedReceiver<CarrierEvent>> {
        self.receiver.lock().expect("hub lock").take()
    }

    /// Forgets a client's cached carrier (its credentials changed).
    pub fn invalidate(&self, client: ClientId) {
        self.twilio.lock().expect("hub lock").remove(&client);
    }

    /// The carrier for `client`'s calls.
    pub async fn for_client(
        &self,
        store: &Store,
        client: ClientId,
    ) -> Result<Arc<dyn Carrier>, CarrierError> {
        let carrier = self.unwrapped_for_client(store, client).await?;
        Ok(match &self.wrap {
            Some(wrap) => wrap(carrier),
            None => carrier,
        })
    }

    async fn unwrapped_for_client(
        &self,
        store: &Store,
        client: ClientId,
    ) -> Result<Arc<dyn Carrier>, CarrierError> {
        if let Some(sim) = &self.sim {
            return Ok(Arc::new(sim.clone()));
        }
        if let Some(c) = self.twilio.lock().expect("hub lock").get(&client) {
            return Ok(c.clone());
        }
        let carrier = Arc::new(self.build_twilio(store, client).await?);
        self.twilio
            .lock()
            .expect("hub lock")
            .insert(client, carrier.clone());
        Ok(carrier)
    }

    /// Builds a client's Twilio carrier from its stored credentials.
    pub async fn build_twilio(
        &self,
        store: &Store,
        client: ClientId,
    ) -> Result<TwilioCarrier, CarrierError> {
        let creds = store
            .client_credentials(client)
            .await
            .map_err(|e| CarrierError::Unavailable(e.to_string()))?;
        let settings = store
            .client(client)
            .await
            .map_err(|e| CarrierError::Unavailable(e.to_string()))?;
        let account_sid = creds.account_sid.ok_or(CarrierError::NotConfigured)?;
        let credentials = match (creds.api_key_sid, creds.api_key_secret, creds.auth_token) {
            (Some(sid), Some(secret), _) => Credentials::ApiKey { sid, secret },
            (_, _, Some(token)) => Credentials::AuthToken(token),
            _ => return Err(CarrierError::NotConfigured),
        };
        let mut config =
            TwilioConfig::new(client.0, account_sid, credentials, self.public_url.clone());
        config.base_url = self.twilio_base_url.lock().expect("hub lock").clone();
        config.intelligence_url = self
            .twilio_intelligence_url
            .lock()
            .expect("hub lock")
            .clone();
        config.calls_per_second = settings.calls_per_second;
        TwilioCarrier::new(config)
    }
}
