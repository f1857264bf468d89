//! The run report of docs/operator.md: counts per object, skipped and failed records, API calls and
//! duration, serialized as the operator contract's JSON. A dry run also carries its plan.

use serde::{Deserialize, Serialize};

/// `full` or `incremental`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// Every record is considered.
    Full,
    /// Records changed since the last committed watermark, with their email groups.
    Incremental,
}

impl RunMode {
    /// `full` or `incremental`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
        }
    }
}

/// Organization counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationCounts {
    /// Organizations created.
    pub created: u64,
    /// Organizations updated or linked.
    pub updated: u64,
    /// Organizations that already had every mapped value.
    pub unchanged: u64,
    /// Accounts whose write failed.
    pub failed: u64,
}

/// User counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCounts {
    /// Users created.
    pub created: u64,
    /// Users whose fields or organization were written.
    pub updated: u64,
    /// Matched users left as they were.
    pub unchanged: u64,
    /// Matched users whose fields were not synced: "default org doesn't match".
    pub fields_skipped_default_org_mismatch: u64,
    /// Users whose write failed.
    pub failed: u64,
}

/// Membership counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipCounts {
    /// Memberships added.
    pub created: u64,
    /// Memberships that were already there.
    pub already_present: u64,
    /// Memberships whose write failed.
    pub failed: u64,
}

/// A record left out, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The Salesforce record.
    pub salesforce_id: String,
    /// Why it was left out.
    pub reason: String,
}

/// A record whose write failed; it is retried next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// The Salesforce record.
    pub salesforce_id: String,
    /// What went wrong.
    pub message: String,
}

/// API calls made by the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCalls {
    /// Requests sent to Salesforce.
    pub salesforce: u64,
    /// Requests sent to Zendesk.
    pub zendesk: u64,
}

/// One planned action of a dry run (or of a real run, for the log), with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    /// What would be written, e.g. `create user ann@example.com in organization 42`.
    pub action: String,
    /// The rules behind it, by name.
    pub rules: Vec<String>,
    /// The Salesforce records behind it.
    pub salesforce_ids: Vec<String>,
}

/// The report of one run (docs/operator.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `full` or `incremental`.
    pub mode: RunMode,
    /// Whether this was a dry run (no write reached Zendesk).
    pub dry_run: bool,
    /// Organization counts.
    pub organizations: OrganizationCounts,
    /// User counts.
    pub users: UserCounts,
    /// Membership counts.
    pub memberships: MembershipCounts,
    /// Records left out with their reasons.
    pub skipped: Vec<Skipped>,
    /// Records whose writes failed; retried next run.
    pub errors: Vec<RecordError>,
    /// Requests sent to each API.
    pub api_calls: ApiCalls,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// Things the operator should know (e.g. a fallback from Zendesk's bulk user import).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The plan, on a dry run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedAction>,
}

impl Report {
    /// An empty report for a run.
    pub fn new(mode: RunMode, dry_run: bool) -> Self {
        Self {
            mode,
            dry_run,
            organizations: OrganizationCounts::default(),
            users: UserCounts::default(),
            memberships: MembershipCounts::default(),
            skipped: Vec::new(),
            errors: Vec::new(),
            api_calls: ApiCalls::default(),
            duration_ms: 0,
            warnings: Vec::new(),
            plan: Vec::new(),
        }
    }

    /// Whether some record failed (exit status 3).
    pub fn has_failures(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Adds a warning once.
    pub fn warn_once(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            tracing::warn!("{warning}");
            self.warnings.push(warning);
        }
    }

    /// Warns once per key Zendesk dropped from this run's writes (`X-Zendesk-API-Warn`),
    /// naming the field and the mapping entry it came from. Zendesk answers such writes
    /// with success and does not store the value, so the run would send it again every
    /// time: the operator fixes the mapping or adds the field in Zendesk.
    pub fn warn_dropped_keys<'k>(
        &mut self,
        dropped: impl IntoIterator<Item = &'k crate::writes::DroppedKey>,
        mapping: &crate::mapping::FieldMapping,
    ) {
        use crate::writes::ObjectKind;
        for key in dropped {
            let object = match key.object {
                ObjectKind::User => "user",
                ObjectKind::Organization => "organization",
                ObjectKind::Membership => "membership",
            };
            let warning = match mapping.entry_for(key.object, &key.field) {
                Some(entry) => format!(
                    "Zendesk dropped `{}` from {object} writes (X-Zendesk-API-Warn), so it was not stored; it comes from mapping {entry}: check the key against `sfzd check`, then fix the mapping or create the field in Zendesk",
                    key.field
                ),
                None => format!(
                    "Zendesk dropped `{}` from {object} writes (X-Zendesk-API-Warn), so it was not stored; no mapping writes it",
                    key.field
                ),
            };
            self.warn_once(warning);
        }
    }

    /// Records a failed record.
    pub fn error(&mut self, salesforce_id: impl Into<String>, message: impl Into<String>) {
        let (salesforce_id, message) = (salesforce_id.into(), message.into());
        tracing::error!(salesforce_id = %salesforce_id, "{message}");
        self.errors.push(RecordError {
            salesforce_id,
            message,
        });
    }

    /// Records a skipped record.
    pub fn skip(&mut self, salesforce_id: impl Into<String>, reason: impl Into<String>) {
        let (salesforce_id, reason) = (salesforce_id.into(), reason.into());
        tracing::debug!(salesforce_id = %salesforce_id, "skipped: {reason}");
        self.skipped.push(Skipped {
            salesforce_id,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::FieldMapping;
    use crate::writes::{DroppedKey, ObjectKind};

    #[test]
    fn each_dropped_key_is_reported_once_with_its_mapping() {
        let mut mapping = FieldMapping::default();
        mapping
            .user
            .insert("user_fields.no_such_field".into(), vec!["Title".into()]);
        let dropped = [
            DroppedKey {
                object: ObjectKind::User,
                field: "user_fields.no_such_field".into(),
            },
            DroppedKey {
                object: ObjectKind::Organization,
                field: "id".into(),
            },
        ];
        let mut report = Report::new(RunMode::Full, false);
        report.warn_dropped_keys(&dropped, &mapping);
        // A later chunk reports the same keys again: still one warning each.
        report.warn_dropped_keys(&dropped, &mapping);
        assert_eq!(report.warnings.len(), 2, "{:#?}", report.warnings);
        assert!(report.warnings[0].contains("`user_fields.no_such_field`"));
        assert!(
            report.warnings[0].contains(r#"[mapping.user] "user_fields.no_such_field" = "Title""#),
            "{}",
            report.warnings[0]
        );
        assert!(report.warnings[1].contains("`id` from organization writes"));
        assert!(report.warnings[1].contains("no mapping writes it"));
    }

    #[test]
    fn serializes_to_the_operator_contract() {
        let report = Report::new(RunMode::Incremental, false);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "mode": "incremental",
                "dry_run": false,
                "organizations": {"created": 0, "updated": 0, "unchanged": 0, "failed": 0},
                "users": {"created": 0, "updated": 0, "unchanged": 0, "fields_skipped_default_org_mismatch": 0, "failed": 0},
                "memberships": {"created": 0, "already_present": 0, "failed": 0},
                "skipped": [],
                "errors": [],
                "api_calls": {"salesforce": 0, "zendesk": 0},
                "duration_ms": 0
            })
        );
    }
}
