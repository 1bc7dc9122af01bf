// TEMPORARY STUB (replaced by the real module)
use chrono::{DateTime, Utc};
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleSpec {
    Cron {
        expr: String,
        timezone: Option<String>,
    },
    Every {
        seconds: u64,
    },
    At {
        time: String,
    },
}
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: ScheduleSpec,
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("bad")]
    Bad,
}
impl Schedule {
    pub fn parse(
        spec: &ScheduleSpec,
        _anchor: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> Result<Schedule, ScheduleError> {
        Ok(Self { spec: spec.clone() })
    }
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Some(after)
    }
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }
    pub fn describe(&self) -> String {
        String::new()
    }
}
