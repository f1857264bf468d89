//! Simulated Salesforce and Zendesk servers.
