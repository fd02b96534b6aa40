//! The deployed service as the fake deployer shows it to verification (R18):
//! a URL once the stage deployed, health answers and CloudWatch alarms the
//! test sets.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::ports::{AlarmReading, AlarmState};

/// Every stage's service answers 200 and every alarm is OK unless told otherwise.
#[derive(Default)]
pub struct FakeService {
    unhealthy: Mutex<HashSet<String>>,
    alarms: Mutex<HashMap<String, AlarmState>>,
    probes: Mutex<Vec<String>>,
}

impl FakeService {
    /// The URL of stage `name`'s service.
    pub fn url(stage: &str) -> String {
        format!("https://{stage}.service.test")
    }

    /// Stage `name`'s service answers 500 (`false`) or 200 (`true`).
    pub fn set_healthy(&self, stage: &str, healthy: bool) {
        let mut unhealthy = self.unhealthy.lock().unwrap();
        if healthy {
            unhealthy.remove(stage);
        } else {
            unhealthy.insert(stage.to_string());
        }
    }

    /// An alarm named `name` exists, in `state`.
    pub fn set_alarm(&self, name: &str, state: AlarmState) {
        self.alarms.lock().unwrap().insert(name.to_string(), state);
    }

    /// Every URL probed, in order.
    pub fn probes(&self) -> Vec<String> {
        self.probes.lock().unwrap().clone()
    }

    pub(super) fn probe(&self, url: &str, path: &str) -> u16 {
        self.probes.lock().unwrap().push(format!("{url}{path}"));
        let unhealthy = self.unhealthy.lock().unwrap();
        let answers_500 = unhealthy.iter().any(|stage| Self::url(stage) == url);
        if answers_500 {
            500
        } else {
            200
        }
    }

    pub(super) fn readings(&self, names: &[String]) -> Vec<AlarmReading> {
        let alarms = self.alarms.lock().unwrap();
        names
            .iter()
            .map(|name| AlarmReading {
                name: name.clone(),
                state: alarms.get(name).copied(),
                reason: "set by the test".to_string(),
            })
            .collect()
    }
}
