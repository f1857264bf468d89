//! The Zendesk simulator's records, indexes and the validation rules applied on writes.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::model::{ZdIdentity, ZdMembership, ZdOrganization, ZdUser};
use crate::common::MonotonicClock;

/// Why one record was rejected; becomes a 4xx body or a failed job result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ItemError {
    pub(crate) status: u16,
    /// Field the validation error is attached to (`None` for not-found).
    pub(crate) field: Option<&'static str>,
    /// Zendesk error code, e.g. `DuplicateValue`.
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

impl ItemError {
    pub(crate) fn invalid(field: &'static str, code: &'static str, description: String) -> Self {
        Self {
            status: 422,
            field: Some(field),
            code,
            description,
        }
    }

    pub(crate) fn not_found() -> Self {
        Self {
            status: 404,
            field: None,
            code: "RecordNotFound",
            description: "Not found".into(),
        }
    }

    /// Body of a single-record response.
    pub(crate) fn body(&self) -> Value {
        match self.field {
            Some(field) => json!({
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": { field: [{ "description": self.description, "error": self.code }] },
            }),
            None => json!({ "error": self.code, "description": self.description }),
        }
    }

    /// Entry of a job's `results` array.
    pub(crate) fn job_result(&self, index: usize, id: Option<u64>) -> Value {
        let mut v = json!({
            "index": index,
            "error": self.code,
            "details": self.description,
            "success": false,
        });
        if let (Some(id), Some(obj)) = (id, v.as_object_mut()) {
            obj.insert("id".into(), json!(id));
        }
        v
    }
}

/// Keys of a user payload that have their own handling; anything else is kept as sent.
const USER_KEYS: &[&str] = &[
    "id",
    "url",
    "name",
    "email",
    "identities",
    "organization_id",
    "organization",
    "phone",
    "external_id",
    "role",
    "user_fields",
    "active",
    "verified",
    "skip_verify_email",
    "created_at",
    "updated_at",
];

const ORG_KEYS: &[&str] = &[
    "id",
    "url",
    "name",
    "external_id",
    "organization_fields",
    "created_at",
    "updated_at",
];

/// Records and indexes; every lookup the HTTP layer needs is a map access.
#[derive(Debug)]
pub(crate) struct Data {
    pub(crate) multiple_organizations: bool,
    /// Lowercased addresses Zendesk refuses.
    refused_emails: HashSet<String>,
    /// Organizations one user may belong to.
    pub(crate) max_organizations_per_user: usize,
    pub(crate) users: BTreeMap<u64, ZdUser>,
    /// Lowercased email identity -> user id.
    pub(crate) emails: HashMap<String, u64>,
    /// Lowercased external id -> user id.
    pub(crate) user_external_ids: HashMap<String, u64>,
    /// Change sequence -> user id, the order of the incremental export.
    pub(crate) users_by_seq: BTreeMap<u64, u64>,
    user_seq: HashMap<u64, u64>,
    pub(crate) orgs: BTreeMap<u64, ZdOrganization>,
    /// Trimmed lowercased name -> organization id.
    pub(crate) org_names: HashMap<String, u64>,
    pub(crate) org_external_ids: HashMap<String, u64>,
    pub(crate) orgs_by_seq: BTreeMap<u64, u64>,
    org_seq: HashMap<u64, u64>,
    pub(crate) memberships: BTreeMap<u64, ZdMembership>,
    /// User id -> membership ids in creation order.
    pub(crate) user_memberships: HashMap<u64, Vec<u64>>,
    pub(crate) membership_pairs: HashMap<(u64, u64), u64>,
    next_user: u64,
    next_org: u64,
    next_membership: u64,
    next_identity: u64,
    next_seq: u64,
    clock: MonotonicClock,
}

impl Data {
    pub(crate) fn new(multiple_organizations: bool) -> Self {
        Self {
            multiple_organizations,
            refused_emails: HashSet::new(),
            max_organizations_per_user: super::MAX_ORGANIZATIONS_PER_USER,
            users: BTreeMap::new(),
            emails: HashMap::new(),
            user_external_ids: HashMap::new(),
            users_by_seq: BTreeMap::new(),
            user_seq: HashMap::new(),
            orgs: BTreeMap::new(),
            org_names: HashMap::new(),
            org_external_ids: HashMap::new(),
            orgs_by_seq: BTreeMap::new(),
            org_seq: HashMap::new(),
            memberships: BTreeMap::new(),
            user_memberships: HashMap::new(),
            membership_pairs: HashMap::new(),
            // Distinct id ranges per kind make a client mixing up ids fail loudly.
            next_user: 10_000_001,
            next_org: 20_000_001,
            next_membership: 30_000_001,
            next_identity: 40_000_001,
            next_seq: 1,
            clock: MonotonicClock::new(Duration::seconds(1)),
        }
    }

    pub(crate) fn now(&mut self) -> DateTime<Utc> {
        self.clock.now_shared()
    }

    fn touch_user(&mut self, id: u64, now: DateTime<Utc>) {
        if let Some(u) = self.users.get_mut(&id) {
            u.updated_at = now;
        }
        if let Some(old) = self.user_seq.insert(id, self.next_seq) {
            self.users_by_seq.remove(&old);
        }
        self.users_by_seq.insert(self.next_seq, id);
        self.next_seq += 1;
    }

    fn touch_org(&mut self, id: u64, now: DateTime<Utc>) {
        if let Some(o) = self.orgs.get_mut(&id) {
            o.updated_at = now;
        }
        if let Some(old) = self.org_seq.insert(id, self.next_seq) {
            self.orgs_by_seq.remove(&old);
        }
        self.orgs_by_seq.insert(self.next_seq, id);
        self.next_seq += 1;
    }

    // ----- users -----

    pub(crate) fn create_user(&mut self, obj: &Map<String, Value>) -> Result<u64, ItemError> {
        let name = str_field(obj, "name").map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(ItemError::invalid(
                "name",
                "BlankValue",
                "Name: cannot be blank".into(),
            ));
        }
        let verified = obj
            .get("verified")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut emails: Vec<String> = Vec::new();
        if let Some(email) = str_field(obj, "email").filter(|e| !e.trim().is_empty()) {
            emails.push(email.trim().to_owned());
        }
        if let Some(list) = obj.get("identities").and_then(Value::as_array) {
            for identity in list {
                let is_email = identity.get("type").and_then(Value::as_str) == Some("email");
                if let (true, Some(v)) = (is_email, identity.get("value").and_then(Value::as_str))
                    && !emails.iter().any(|e| e.eq_ignore_ascii_case(v.trim()))
                {
                    emails.push(v.trim().to_owned());
                }
            }
        }
        for email in &emails {
            self.check_email_free(email, None)?;
        }
        let external_id = id_like(obj.get("external_id"));
        if let Some(ext) = &external_id
            && self.user_external_ids.contains_key(&ext.to_lowercase())
        {
            return Err(duplicate_external_id());
        }
        let organization_id = match obj.get("organization_id") {
            Some(Value::Null) | None => None,
            Some(v) => Some(self.existing_org(v)?),
        };
        let now = self.now();
        let id = self.next_user;
        self.next_user += 1;
        let mut identities = Vec::with_capacity(emails.len());
        for (n, email) in emails.iter().enumerate() {
            identities.push(ZdIdentity {
                id: self.next_identity,
                value: email.clone(),
                primary: n == 0,
                verified,
                created_at: now,
            });
            self.next_identity += 1;
            self.emails.insert(email.to_lowercase(), id);
        }
        if let Some(ext) = &external_id {
            self.user_external_ids.insert(ext.to_lowercase(), id);
        }
        let user = ZdUser {
            id,
            name: name.to_owned(),
            email: emails.first().cloned(),
            identities,
            organization_id: None,
            phone: str_field(obj, "phone").map(str::to_owned),
            external_id,
            role: str_field(obj, "role").unwrap_or("end-user").to_owned(),
            user_fields: obj
                .get("user_fields")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            other_fields: others(obj, USER_KEYS),
            active: true,
            created_at: now,
            updated_at: now,
        };
        self.users.insert(id, user);
        self.touch_user(id, now);
        if let Some(org) = organization_id {
            self.set_user_organization(id, Some(org), now);
        }
        Ok(id)
    }

    pub(crate) fn refuse_email(&mut self, email: &str) {
        self.refused_emails.insert(email.trim().to_lowercase());
    }

    /// Adds an email identity to an existing user, with the checks of a create: the
    /// address must be well-formed, not refused and not another user's. An address the
    /// user already has is answered with that identity, unchanged.
    pub(crate) fn add_identity(
        &mut self,
        user_id: u64,
        email: &str,
        verified: bool,
    ) -> Result<u64, ItemError> {
        let email = email.trim();
        if !self.users.contains_key(&user_id) {
            return Err(ItemError::not_found());
        }
        self.check_email_free(email, Some(user_id))?;
        let key = email.to_lowercase();
        if let Some(existing) = self.users.get(&user_id).and_then(|u| {
            u.identities
                .iter()
                .find(|i| i.value.to_lowercase() == key)
                .map(|i| i.id)
        }) {
            return Ok(existing);
        }
        let now = self.now();
        let identity_id = self.next_identity;
        self.next_identity += 1;
        if let Some(user) = self.users.get_mut(&user_id) {
            user.identities.push(ZdIdentity {
                id: identity_id,
                value: email.to_owned(),
                primary: user.identities.is_empty(),
                verified,
                created_at: now,
            });
            if user.email.is_none() {
                user.email = Some(email.to_owned());
            }
        }
        self.emails.insert(key, user_id);
        self.touch_user(user_id, now);
        Ok(identity_id)
    }

    fn check_email_free(&self, email: &str, owner: Option<u64>) -> Result<(), ItemError> {
        // Zendesk answers an address it will not take in the words of its format check
        // (the recorded 422: "Email: badmail is not properly formatted").
        if !valid_email(email) || self.refused_emails.contains(&email.trim().to_lowercase()) {
            return Err(ItemError::invalid(
                "email",
                "InvalidFormat",
                format!("Email: {email} is not properly formatted"),
            ));
        }
        match self.emails.get(&email.to_lowercase()) {
            Some(holder) if Some(*holder) != owner => Err(ItemError::invalid(
                "email",
                "DuplicateValue",
                format!("Email: {email} is already being used by another user"),
            )),
            _ => Ok(()),
        }
    }

    fn existing_org(&self, v: &Value) -> Result<u64, ItemError> {
        v.as_u64()
            .filter(|id| self.orgs.contains_key(id))
            .ok_or_else(|| {
                ItemError::invalid(
                    "organization_id",
                    "InvalidValue",
                    format!("Organization: {v} does not exist"),
                )
            })
    }

    /// Applies an update; validation happens before any change so a rejected update
    /// leaves the user untouched.
    pub(crate) fn update_user(
        &mut self,
        id: u64,
        obj: &Map<String, Value>,
    ) -> Result<(), ItemError> {
        let Some(user) = self.users.get(&id) else {
            return Err(ItemError::not_found());
        };
        // Sending `email` on update adds a secondary identity (Zendesk semantics), unless
        // the user already has it.
        let new_email = match str_field(obj, "email").map(str::trim) {
            Some(e) if !e.is_empty() => {
                self.check_email_free(e, Some(id))?;
                (!self.emails.contains_key(&e.to_lowercase())).then(|| e.to_owned())
            }
            _ => None,
        };
        let external_id = if obj.contains_key("external_id") {
            let ext = id_like(obj.get("external_id"));
            if let Some(e) = &ext
                && self
                    .user_external_ids
                    .get(&e.to_lowercase())
                    .is_some_and(|holder| *holder != id)
            {
                return Err(duplicate_external_id());
            }
            Some(ext)
        } else {
            None
        };
        let organization = match obj.get("organization_id") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => Some(Some(self.existing_org(v)?)),
        };
        let name = match str_field(obj, "name").map(str::trim) {
            Some("") => {
                return Err(ItemError::invalid(
                    "name",
                    "BlankValue",
                    "Name: cannot be blank".into(),
                ));
            }
            other => other.map(str::to_owned),
        };
        let before = user.clone();
        let now = self.now();
        let verified = obj
            .get("verified")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let identity_id = self.next_identity;
        let Some(user) = self.users.get_mut(&id) else {
            return Err(ItemError::not_found());
        };
        if let Some(name) = name {
            user.name = name;
        }
        if obj.contains_key("phone") {
            user.phone = str_field(obj, "phone").map(str::to_owned);
        }
        if let Some(role) = str_field(obj, "role") {
            user.role = role.to_owned();
        }
        if let Some(fields) = obj.get("user_fields").and_then(Value::as_object) {
            for (k, v) in fields {
                user.user_fields.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in others(obj, USER_KEYS) {
            user.other_fields.insert(k, v);
        }
        if let Some(email) = &new_email {
            user.identities.push(ZdIdentity {
                id: identity_id,
                value: email.clone(),
                primary: user.identities.is_empty(),
                verified,
                created_at: now,
            });
            if user.email.is_none() {
                user.email = Some(email.clone());
            }
        }
        let old_external = if let Some(ext) = &external_id {
            std::mem::replace(&mut user.external_id, ext.clone())
        } else {
            None
        };
        let changed = *user != before;
        if let Some(email) = new_email {
            self.next_identity += 1;
            self.emails.insert(email.to_lowercase(), id);
        }
        if let Some(ext) = external_id {
            if let Some(old) = old_external {
                self.user_external_ids.remove(&old.to_lowercase());
            }
            if let Some(new) = ext {
                self.user_external_ids.insert(new.to_lowercase(), id);
            }
        }
        let memberships_changed = match organization {
            Some(org) => self.set_user_organization(id, org, now),
            None => false,
        };
        if changed && !memberships_changed {
            self.touch_user(id, now);
        }
        Ok(())
    }

    /// Finds the user a create-or-update payload addresses: by email identity, then external id.
    pub(crate) fn match_user(&self, obj: &Map<String, Value>) -> Option<u64> {
        if let Some(email) = str_field(obj, "email")
            && let Some(id) = self.emails.get(&email.trim().to_lowercase())
        {
            return Some(*id);
        }
        id_like(obj.get("external_id"))
            .and_then(|ext| self.user_external_ids.get(&ext.to_lowercase()).copied())
    }

    pub(crate) fn user_by_external_id(&self, ext: &str) -> Option<u64> {
        self.user_external_ids.get(&ext.to_lowercase()).copied()
    }

    /// Writing `organization_id` makes it the default membership and removes every other
    /// membership of the user (documented Zendesk behaviour). Returns whether anything changed.
    fn set_user_organization(
        &mut self,
        user_id: u64,
        org: Option<u64>,
        now: DateTime<Utc>,
    ) -> bool {
        let existing = self
            .user_memberships
            .get(&user_id)
            .cloned()
            .unwrap_or_default();
        let mut changed = false;
        for mid in existing {
            let keep = self
                .memberships
                .get(&mid)
                .is_some_and(|m| Some(m.organization_id) == org);
            if !keep {
                self.remove_membership_raw(mid);
                changed = true;
            }
        }
        if let Some(org) = org {
            match self.membership_pairs.get(&(user_id, org)).copied() {
                Some(mid) => {
                    if let Some(m) = self.memberships.get_mut(&mid)
                        && !m.default
                    {
                        m.default = true;
                        m.updated_at = now;
                        changed = true;
                    }
                }
                None => {
                    self.insert_membership(user_id, org, true, now);
                    changed = true;
                }
            }
        }
        if changed {
            self.refresh_user_org(user_id, now);
        }
        changed
    }

    fn refresh_user_org(&mut self, user_id: u64, now: DateTime<Utc>) {
        let default_org = self.user_memberships.get(&user_id).and_then(|ids| {
            ids.iter()
                .filter_map(|mid| self.memberships.get(mid))
                .find(|m| m.default)
                .map(|m| m.organization_id)
        });
        if let Some(u) = self.users.get_mut(&user_id) {
            u.organization_id = default_org;
        }
        self.touch_user(user_id, now);
    }

    // ----- organizations -----

    pub(crate) fn create_org(&mut self, obj: &Map<String, Value>) -> Result<u64, ItemError> {
        let name = str_field(obj, "name").map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(ItemError::invalid(
                "name",
                "BlankValue",
                "Name: cannot be blank".into(),
            ));
        }
        if self.org_names.contains_key(&name.to_lowercase()) {
            return Err(duplicate_org_name());
        }
        let external_id = id_like(obj.get("external_id"));
        if let Some(ext) = &external_id
            && self.org_external_ids.contains_key(&ext.to_lowercase())
        {
            return Err(duplicate_external_id());
        }
        let now = self.now();
        let id = self.next_org;
        self.next_org += 1;
        self.org_names.insert(name.to_lowercase(), id);
        if let Some(ext) = &external_id {
            self.org_external_ids.insert(ext.to_lowercase(), id);
        }
        self.orgs.insert(
            id,
            ZdOrganization {
                id,
                name: name.to_owned(),
                external_id,
                organization_fields: obj
                    .get("organization_fields")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                other_fields: others(obj, ORG_KEYS),
                created_at: now,
                updated_at: now,
            },
        );
        self.touch_org(id, now);
        Ok(id)
    }

    pub(crate) fn update_org(
        &mut self,
        id: u64,
        obj: &Map<String, Value>,
    ) -> Result<(), ItemError> {
        let Some(org) = self.orgs.get(&id) else {
            return Err(ItemError::not_found());
        };
        let name = match str_field(obj, "name").map(str::trim) {
            Some("") => {
                return Err(ItemError::invalid(
                    "name",
                    "BlankValue",
                    "Name: cannot be blank".into(),
                ));
            }
            Some(n) => {
                if self
                    .org_names
                    .get(&n.to_lowercase())
                    .is_some_and(|holder| *holder != id)
                {
                    return Err(duplicate_org_name());
                }
                Some(n.to_owned())
            }
            None => None,
        };
        let external_id = if obj.contains_key("external_id") {
            let ext = id_like(obj.get("external_id"));
            if let Some(e) = &ext
                && self
                    .org_external_ids
                    .get(&e.to_lowercase())
                    .is_some_and(|holder| *holder != id)
            {
                return Err(duplicate_external_id());
            }
            Some(ext)
        } else {
            None
        };
        let mut updated = org.clone();
        if let Some(n) = &name {
            updated.name = n.clone();
        }
        if let Some(ext) = &external_id {
            updated.external_id = ext.clone();
        }
        if let Some(fields) = obj.get("organization_fields").and_then(Value::as_object) {
            for (k, v) in fields {
                updated.organization_fields.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in others(obj, ORG_KEYS) {
            updated.other_fields.insert(k, v);
        }
        if updated == *org {
            return Ok(());
        }
        let old = org.clone();
        self.org_names.remove(&old.name.to_lowercase());
        self.org_names.insert(updated.name.to_lowercase(), id);
        if let Some(e) = &old.external_id {
            self.org_external_ids.remove(&e.to_lowercase());
        }
        if let Some(e) = &updated.external_id {
            self.org_external_ids.insert(e.to_lowercase(), id);
        }
        self.orgs.insert(id, updated);
        let now = self.now();
        self.touch_org(id, now);
        Ok(())
    }

    /// Organizations match only by `id` or `external_id`, never by name.
    pub(crate) fn match_org(&self, obj: &Map<String, Value>) -> Option<u64> {
        if let Some(id) = obj.get("id").and_then(Value::as_u64)
            && self.orgs.contains_key(&id)
        {
            return Some(id);
        }
        id_like(obj.get("external_id"))
            .and_then(|ext| self.org_external_ids.get(&ext.to_lowercase()).copied())
    }

    pub(crate) fn org_by_external_id(&self, ext: &str) -> Option<u64> {
        self.org_external_ids.get(&ext.to_lowercase()).copied()
    }

    pub(crate) fn org_name(&self, id: u64) -> &str {
        self.orgs.get(&id).map_or("", |o| o.name.as_str())
    }

    // ----- memberships -----

    pub(crate) fn create_membership(
        &mut self,
        user_id: u64,
        org_id: u64,
        default: bool,
    ) -> Result<u64, ItemError> {
        if !self.users.contains_key(&user_id) {
            return Err(ItemError::invalid(
                "user_id",
                "InvalidValue",
                format!("User: {user_id} does not exist"),
            ));
        }
        if !self.orgs.contains_key(&org_id) {
            return Err(ItemError::invalid(
                "organization_id",
                "InvalidValue",
                format!("Organization: {org_id} does not exist"),
            ));
        }
        if self.membership_pairs.contains_key(&(user_id, org_id)) {
            return Err(ItemError::invalid(
                "user_id",
                "DuplicateValue",
                "User is already a member of this organization".into(),
            ));
        }
        let count = self.user_memberships.get(&user_id).map_or(0, Vec::len);
        let has_any = count > 0;
        if count >= self.max_organizations_per_user {
            return Err(ItemError::invalid(
                "organization_id",
                "InvalidValue",
                format!(
                    "User cannot belong to more than {} organizations",
                    self.max_organizations_per_user
                ),
            ));
        }
        // Choice (the docs leave it open): with multiple organizations off a second membership
        // is rejected; moving a user is done by writing the user's organization_id.
        if has_any && !self.multiple_organizations {
            return Err(ItemError::invalid(
                "organization_id",
                "InvalidValue",
                "User can only belong to one organization: multiple organizations is disabled"
                    .into(),
            ));
        }
        let now = self.now();
        let make_default = !has_any || default;
        if make_default {
            self.clear_defaults(user_id, now);
        }
        let mid = self.insert_membership(user_id, org_id, make_default, now);
        if make_default {
            self.refresh_user_org(user_id, now);
        }
        Ok(mid)
    }

    fn clear_defaults(&mut self, user_id: u64, now: DateTime<Utc>) {
        for mid in self
            .user_memberships
            .get(&user_id)
            .cloned()
            .unwrap_or_default()
        {
            if let Some(m) = self.memberships.get_mut(&mid)
                && m.default
            {
                m.default = false;
                m.updated_at = now;
            }
        }
    }

    fn insert_membership(
        &mut self,
        user_id: u64,
        org_id: u64,
        default: bool,
        now: DateTime<Utc>,
    ) -> u64 {
        let mid = self.next_membership;
        self.next_membership += 1;
        self.memberships.insert(
            mid,
            ZdMembership {
                id: mid,
                user_id,
                organization_id: org_id,
                default,
                created_at: now,
                updated_at: now,
            },
        );
        self.user_memberships.entry(user_id).or_default().push(mid);
        self.membership_pairs.insert((user_id, org_id), mid);
        mid
    }

    fn remove_membership_raw(&mut self, mid: u64) -> Option<ZdMembership> {
        let m = self.memberships.remove(&mid)?;
        self.membership_pairs
            .remove(&(m.user_id, m.organization_id));
        if let Some(list) = self.user_memberships.get_mut(&m.user_id) {
            list.retain(|x| *x != mid);
        }
        Some(m)
    }

    /// Deletes a membership; when it was the default, the oldest remaining one is promoted.
    pub(crate) fn delete_membership(&mut self, mid: u64) -> Result<(), ItemError> {
        let m = self
            .remove_membership_raw(mid)
            .ok_or_else(ItemError::not_found)?;
        let now = self.now();
        if m.default {
            let next = self
                .user_memberships
                .get(&m.user_id)
                .and_then(|v| v.first().copied());
            if let Some(next) = next.and_then(|n| self.memberships.get_mut(&n)) {
                next.default = true;
                next.updated_at = now;
            }
            self.refresh_user_org(m.user_id, now);
        }
        Ok(())
    }

    pub(crate) fn make_default(&mut self, user_id: u64, mid: u64) -> Result<(), ItemError> {
        match self.memberships.get(&mid) {
            Some(m) if m.user_id == user_id => {}
            _ => return Err(ItemError::not_found()),
        }
        let now = self.now();
        self.clear_defaults(user_id, now);
        if let Some(m) = self.memberships.get_mut(&mid) {
            m.default = true;
            m.updated_at = now;
        }
        self.refresh_user_org(user_id, now);
        Ok(())
    }

    /// Memberships of a user: default first, then by organization name (documented order).
    pub(crate) fn user_memberships_sorted(&self, user_id: u64) -> Vec<&ZdMembership> {
        let mut list: Vec<&ZdMembership> = self
            .user_memberships
            .get(&user_id)
            .map(|ids| ids.iter().filter_map(|m| self.memberships.get(m)).collect())
            .unwrap_or_default();
        list.sort_by(|a, b| {
            b.default
                .cmp(&a.default)
                .then_with(|| {
                    self.org_name(a.organization_id)
                        .to_lowercase()
                        .cmp(&self.org_name(b.organization_id).to_lowercase())
                })
                .then(a.id.cmp(&b.id))
        });
        list
    }
}

fn duplicate_external_id() -> ItemError {
    ItemError::invalid(
        "external_id",
        "DuplicateValue",
        "External has already been taken".into(),
    )
}

fn duplicate_org_name() -> ItemError {
    ItemError::invalid(
        "name",
        "DuplicateValue",
        "Name: has already been taken".into(),
    )
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// External ids may be sent as strings or numbers.
fn id_like(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn others(obj: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The address shape Zendesk accepts: one `@`, a non-empty local part, a dotted domain,
/// no whitespace.
pub(crate) fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}
