//! The `mock` feature: the generated mocks stand in for the client behind the traits.

use zendesk_client::stream::{collect_all, memberships_stream};
use zendesk_client::{
    JobPoller, JobState, JobStatus, MockZendeskRead, MockZendeskWrite, NewUser, Page, Written,
    ZendeskRead, ZendeskWrite,
};

#[tokio::test]
async fn mocks_drive_streams_and_writes() {
    let mut read = MockZendeskRead::new();
    read.expect_list_memberships_page().returning(|_| {
        Ok(Page {
            items: vec![],
            next_cursor: None,
        })
    });
    read.expect_show_many_job_statuses().returning(|ids| {
        Ok(ids
            .iter()
            .map(|id| JobStatus::new(id.clone(), JobState::Completed))
            .collect())
    });
    let mut write = MockZendeskWrite::new();
    write
        .expect_create_many_users()
        .withf(|users| users.len() == 1 && users[0].email == "a@x.com")
        .returning(|_| Ok(Written::new(JobStatus::new("j1", JobState::Queued))));

    let read: &dyn ZendeskRead = &read;
    let write: &dyn ZendeskWrite = &write;
    assert!(
        collect_all(memberships_stream(read))
            .await
            .expect("empty")
            .is_empty()
    );
    let job = write
        .create_many_users(&[NewUser::new("A", "a@x.com")])
        .await
        .expect("job");
    let poll = zendesk_client::PollConfig {
        clock: std::sync::Arc::new(zendesk_client::ManualClock::new()),
        ..Default::default()
    };
    let done = JobPoller::new(poll)
        .wait(read, std::slice::from_ref(&job.id))
        .await
        .expect("done");
    assert_eq!(done[0].status, JobState::Completed);
}
