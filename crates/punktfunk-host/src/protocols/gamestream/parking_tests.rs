//! The rules of `parking.rs` — who may resume or quit what, which stream is parked, when a session
//! gives up on its client, what teardown keeps — on stand-in streams (no sockets, no threads).

use super::apps::GameStreamApp;
use super::parking::*;
use super::stream_params::{LaunchError, LaunchRequest};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const ALICE: &str = "alice-device";
const BOB: &str = "bob-device";

fn request(app: u32, title: &str, owner: Option<&str>) -> LaunchRequest {
    LaunchRequest {
        app: GameStreamApp {
            id: NonZeroU32::new(app).expect("a non-zero app id"),
            title: title.into(),
            config: None,
            art: None,
            title_id: None,
        },
        client_id: owner.map(str::to_string),
        client_name: "test".into(),
        width: 1920,
        height: 1080,
        fps: 60,
        rikey: [1; 16],
        rikeyid: 1,
        encrypted_rtsp: true,
        local_ip: Ipv4Addr::LOCALHOST.into(),
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20)),
    }
}

/// A stand-in streaming session: a launch request and the end flags.
#[derive(Debug)]
struct Stream {
    request: LaunchRequest,
    ended: AtomicBool,
    client_lost: AtomicBool,
}

impl Stream {
    fn launched(app: u32, title: &str, owner: Option<&str>) -> Arc<Stream> {
        Arc::new(Stream {
            request: request(app, title, owner),
            ended: AtomicBool::new(false),
            client_lost: AtomicBool::new(false),
        })
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
    }

    fn lose(&self) {
        self.ended.store(true, Ordering::Relaxed);
        self.client_lost.store(true, Ordering::Relaxed);
    }
}

impl StreamFacts for Stream {
    fn request(&self) -> &LaunchRequest {
        &self.request
    }
    fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
    fn client_lost(&self) -> bool {
        self.client_lost.load(Ordering::Relaxed)
    }
}

/// A stand-in parked stream.
#[derive(Debug)]
struct Left {
    request: LaunchRequest,
    alive: bool,
    listing: Option<String>,
}

fn left(app: u32, title: &str, owner: Option<&str>) -> Left {
    Left {
        request: request(app, title, owner),
        alive: true,
        listing: Some(format!("listing-{app}")),
    }
}

fn dead(app: u32, title: &str, owner: Option<&str>) -> Left {
    Left {
        alive: false,
        ..left(app, title, owner)
    }
}

impl ParkedFacts for Left {
    fn request(&self) -> &LaunchRequest {
        &self.request
    }
    fn alive(&self) -> bool {
        self.alive
    }
    fn listing_id(&self) -> Option<&str> {
        self.listing.as_deref()
    }
}

type TestStage = Stage<Arc<Stream>, Left>;

fn game(stage: &mut TestStage) -> Option<u32> {
    let ruling = stage.current_game();
    assert!(ruling.release.is_none(), "nothing to release here");
    ruling
        .outcome
        .expect("current_game never refuses")
        .map(NonZeroU32::get)
}

fn app_of(left: &Left) -> u32 {
    left.request.app.id.get()
}

fn busy_title(error: LaunchError) -> String {
    match error {
        LaunchError::Busy(title) => title,
        other => panic!("expected Busy, got {other:?}"),
    }
}

fn not_yours_title(error: LaunchError) -> String {
    match error {
        LaunchError::NotYours(title) => title,
        other => panic!("expected NotYours, got {other:?}"),
    }
}

// --- who owns what -------------------------------------------------------------------------------

#[test]
fn only_the_launching_client_owns_a_paired_launch() {
    let launch = request(2, "Game", Some(ALICE));
    assert!(owns(&launch, Some(ALICE)));
    assert!(!owns(&launch, Some(BOB)));
    assert!(
        !owns(&launch, None),
        "an unpaired caller owns no paired launch"
    );
}

#[test]
fn a_launch_without_a_paired_id_belongs_to_anyone() {
    let launch = request(2, "Game", None);
    assert!(owns(&launch, Some(ALICE)));
    assert!(owns(&launch, Some(BOB)));
    assert!(owns(&launch, None));
}

#[test]
fn a_resume_keeps_the_parked_app_and_mode_and_takes_the_new_keys_and_address() {
    let parked = request(7, "Game", Some(ALICE));
    let mut new = request(1, "Desktop", Some(ALICE));
    new.width = 1280;
    new.height = 720;
    new.fps = 120;
    new.rikey = [9; 16];
    new.rikeyid = 42;
    new.client_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
    new.encrypted_rtsp = false;
    let resumed = resumed_request(&parked, new);
    assert_eq!(resumed.app.id.get(), 7);
    assert_eq!(resumed.app.title, "Game");
    assert_eq!(
        (resumed.width, resumed.height, resumed.fps),
        (1920, 1080, 60)
    );
    assert_eq!(resumed.rikey, [9; 16]);
    assert_eq!(resumed.rikeyid, 42);
    assert_eq!(resumed.client_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)));
    assert!(!resumed.encrypted_rtsp);
}

// --- the current game ----------------------------------------------------------------------------

#[test]
fn nothing_runs_on_an_empty_stage() {
    let mut stage = TestStage::default();
    assert_eq!(game(&mut stage), None);
    assert!(stage.current().is_none());
    assert!(stage.running().is_none());
}

#[test]
fn the_streamed_app_is_the_current_game() {
    let mut stage = TestStage::default();
    let stream = Stream::launched(3, "Game", Some(ALICE));
    stage.start(stream.clone());
    assert_eq!(game(&mut stage), Some(3));
    assert!(Arc::ptr_eq(&stage.running().expect("running"), &stream));
}

#[test]
fn a_stream_being_parked_is_still_the_current_game() {
    let mut stage = TestStage::default();
    let stream = Stream::launched(3, "Game", Some(ALICE));
    stage.start(stream.clone());
    stream.lose();
    assert_eq!(
        game(&mut stage),
        Some(3),
        "a client reconnecting right away resumes"
    );
    assert!(
        stage.running().is_none(),
        "no control peer may join an ended stream"
    );
    assert!(
        stage.current().is_some(),
        "still in the slot until torn down"
    );
}

#[test]
fn a_quit_stream_being_torn_down_is_not_the_current_game() {
    let mut stage = TestStage::default();
    let stream = Stream::launched(3, "Game", Some(ALICE));
    stage.start(stream.clone());
    stream.end();
    assert_eq!(game(&mut stage), None);
}

#[test]
fn a_live_parked_app_is_the_current_game() {
    let mut stage = TestStage::default();
    assert!(stage.park(left(5, "Game", Some(ALICE))).is_none());
    assert_eq!(game(&mut stage), Some(5));
    assert_eq!(
        stage.parked().map(app_of),
        Some(5),
        "reporting leaves it parked"
    );
}

#[test]
fn a_parked_app_that_exited_is_released_and_no_longer_reported() {
    let mut stage = TestStage::default();
    let _ = stage.park(dead(5, "Game", Some(ALICE)));
    let ruling = stage.current_game();
    assert_eq!(ruling.outcome.expect("no refusal"), None);
    let release = ruling.release.expect("the dead app is released");
    assert_eq!(app_of(&release.parked), 5);
    assert_eq!(release.why, "its app exited");
    assert!(stage.parked().is_none());
}

// --- /launch -------------------------------------------------------------------------------------

#[test]
fn a_launch_on_an_empty_stage_is_admitted() {
    let mut stage = TestStage::default();
    let ruling = stage.admit_launch();
    assert!(ruling.outcome.is_ok());
    assert!(ruling.release.is_none());
}

#[test]
fn a_launch_while_streaming_is_busy_with_the_streamed_app() {
    let mut stage = TestStage::default();
    stage.start(Stream::launched(3, "Running Game", Some(ALICE)));
    let ruling = stage.admit_launch();
    assert_eq!(busy_title(ruling.outcome.unwrap_err()), "Running Game");
}

#[test]
fn a_launch_while_a_quit_stream_is_still_tearing_down_is_busy() {
    let mut stage = TestStage::default();
    let stream = Stream::launched(3, "Ending Game", Some(ALICE));
    stage.start(stream.clone());
    stream.end();
    let ruling = stage.admit_launch();
    assert_eq!(busy_title(ruling.outcome.unwrap_err()), "Ending Game");
}

#[test]
fn a_launch_while_an_app_is_parked_is_busy_even_for_its_owner() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Parked Game", Some(ALICE)));
    let ruling = stage.admit_launch();
    assert_eq!(busy_title(ruling.outcome.unwrap_err()), "Parked Game");
    assert!(ruling.release.is_none());
    assert_eq!(
        stage.parked().map(app_of),
        Some(5),
        "the refusal keeps it parked"
    );
}

#[test]
fn a_dead_parked_app_does_not_block_a_launch() {
    let mut stage = TestStage::default();
    let _ = stage.park(dead(5, "Crashed Game", Some(ALICE)));
    let ruling = stage.admit_launch();
    assert!(ruling.outcome.is_ok());
    let release = ruling.release.expect("released on the way");
    assert_eq!(app_of(&release.parked), 5);
    assert!(stage.parked().is_none());
}

// --- /resume -------------------------------------------------------------------------------------

#[test]
fn resume_with_nothing_parked_has_nothing_to_resume() {
    let mut stage = TestStage::default();
    let ruling = stage.take_for_resume(Some(ALICE));
    assert!(matches!(ruling.outcome, Err(LaunchError::NothingToResume)));
    assert!(ruling.release.is_none());
}

#[test]
fn resume_takes_the_owners_parked_app_once() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Game", Some(ALICE)));
    let taken = stage.take_for_resume(Some(ALICE)).outcome.expect("resumed");
    assert_eq!(app_of(&taken), 5);
    assert!(stage.parked().is_none(), "the resumed stream now holds it");
    assert!(matches!(
        stage.take_for_resume(Some(ALICE)).outcome,
        Err(LaunchError::NothingToResume)
    ));
}

#[test]
fn resume_by_another_client_is_refused_and_leaves_the_app_parked() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Alice's Game", Some(ALICE)));
    let ruling = stage.take_for_resume(Some(BOB));
    assert_eq!(not_yours_title(ruling.outcome.unwrap_err()), "Alice's Game");
    assert!(ruling.release.is_none());
    assert_eq!(stage.parked().map(app_of), Some(5));
    assert!(
        stage.take_for_resume(None).outcome.is_err(),
        "an unpaired caller may not take it either"
    );
    let taken = stage
        .take_for_resume(Some(ALICE))
        .outcome
        .expect("the owner still can");
    assert_eq!(app_of(&taken), 5);
}

#[test]
fn resume_of_a_dead_app_releases_it() {
    let mut stage = TestStage::default();
    let _ = stage.park(dead(5, "Game", Some(ALICE)));
    let ruling = stage.take_for_resume(Some(ALICE));
    assert!(matches!(ruling.outcome, Err(LaunchError::NothingToResume)));
    let release = ruling.release.expect("released");
    assert_eq!(release.why, "its app exited");
    assert!(stage.parked().is_none());
}

#[test]
fn another_clients_resume_does_not_learn_or_release_a_dead_app() {
    let mut stage = TestStage::default();
    let _ = stage.park(dead(5, "Alice's Game", Some(ALICE)));
    let ruling = stage.take_for_resume(Some(BOB));
    assert!(matches!(ruling.outcome, Err(LaunchError::NotYours(_))));
    assert!(ruling.release.is_none(), "ownership is checked first");
    assert!(stage.parked().is_some());
}

#[test]
fn resume_while_streaming_is_busy_and_keeps_the_parked_app() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Parked Game", Some(ALICE)));
    stage.start(Stream::launched(3, "Streamed Game", Some(ALICE)));
    let ruling = stage.take_for_resume(Some(ALICE));
    assert_eq!(busy_title(ruling.outcome.unwrap_err()), "Streamed Game");
    assert_eq!(stage.parked().map(app_of), Some(5));
}

// --- /cancel -------------------------------------------------------------------------------------

#[test]
fn cancel_on_an_empty_stage_is_a_no_op() {
    let mut stage = TestStage::default();
    assert!(
        stage
            .stream_to_cancel(Some(ALICE))
            .expect("allowed")
            .is_none()
    );
    assert!(
        stage
            .take_for_cancel(Some(ALICE))
            .expect("allowed")
            .is_none()
    );
}

#[test]
fn cancel_hands_the_owner_its_own_stream_to_end() {
    let mut stage = TestStage::default();
    let stream = Stream::launched(3, "Game", Some(ALICE));
    stage.start(stream.clone());
    let to_end = stage
        .stream_to_cancel(Some(ALICE))
        .expect("allowed")
        .expect("a stream");
    assert!(Arc::ptr_eq(&to_end, &stream));
    assert!(
        stage.current().is_some(),
        "it leaves the slot only once torn down"
    );
}

#[test]
fn cancel_of_another_clients_stream_is_refused() {
    let mut stage = TestStage::default();
    stage.start(Stream::launched(3, "Alice's Game", Some(ALICE)));
    let refused = stage.stream_to_cancel(Some(BOB)).unwrap_err();
    assert_eq!(not_yours_title(refused), "Alice's Game");
    assert!(stage.running().is_some(), "still streaming");
}

#[test]
fn cancel_releases_the_owners_parked_app_and_a_second_cancel_is_harmless() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Game", Some(ALICE)));
    let taken = stage.take_for_cancel(Some(ALICE)).expect("allowed");
    assert_eq!(taken.as_ref().map(app_of), Some(5));
    assert!(stage.parked().is_none());
    assert!(
        stage
            .take_for_cancel(Some(ALICE))
            .expect("allowed")
            .is_none()
    );
    assert_eq!(game(&mut stage), None);
}

#[test]
fn cancel_of_another_clients_parked_app_is_refused_and_leaves_it() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Alice's Game", Some(ALICE)));
    let refused = stage.take_for_cancel(Some(BOB)).unwrap_err();
    assert_eq!(not_yours_title(refused), "Alice's Game");
    assert_eq!(stage.parked().map(app_of), Some(5));
}

// --- teardown: parking and vacating --------------------------------------------------------------

#[test]
fn parking_a_second_stream_releases_the_first() {
    let mut stage = TestStage::default();
    assert!(stage.park(left(5, "Old", Some(ALICE))).is_none());
    let release = stage.park(left(6, "New", Some(ALICE))).expect("one space");
    assert_eq!(app_of(&release.parked), 5);
    assert_eq!(release.why, "a newer stream was parked");
    assert_eq!(stage.parked().map(app_of), Some(6));
}

#[test]
fn teardown_vacates_the_slot_only_for_its_own_stream_and_repeats_harmlessly() {
    let mut stage = TestStage::default();
    let old = Stream::launched(3, "Old", Some(ALICE));
    let new = Stream::launched(4, "New", Some(ALICE));
    stage.start(new.clone());
    stage.vacate(|current| Arc::ptr_eq(current, &old));
    assert!(
        Arc::ptr_eq(&stage.current().expect("kept"), &new),
        "an old stream's late teardown leaves the newer one"
    );
    stage.vacate(|current| Arc::ptr_eq(current, &new));
    assert!(stage.current().is_none());
    stage.vacate(|current| Arc::ptr_eq(current, &new));
    assert!(stage.current().is_none());
}

#[test]
fn an_operator_stops_only_the_parked_app_it_listed() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Game", Some(ALICE)));
    assert!(stage.take_listed("listing-9").is_none(), "a stale entry");
    assert!(stage.parked().is_some());
    let taken = stage.take_listed("listing-5").expect("its own entry");
    assert_eq!(app_of(&taken), 5);
    assert!(
        stage.take_listed("listing-5").is_none(),
        "a second stop is harmless"
    );
}

#[test]
fn an_unlisted_parked_app_is_not_stopped_by_any_entry() {
    let mut stage = TestStage::default();
    let _ = stage.park(Left {
        listing: None,
        ..left(5, "Game", Some(ALICE))
    });
    assert!(stage.take_listed("listing-5").is_none());
    assert!(stage.parked().is_some());
}

#[test]
fn shutdown_takes_whatever_is_parked_once() {
    let mut stage = TestStage::default();
    let _ = stage.park(left(5, "Game", Some(BOB)));
    assert_eq!(stage.take_parked().as_ref().map(app_of), Some(5));
    assert!(stage.take_parked().is_none());
}

// --- a whole story -------------------------------------------------------------------------------

#[test]
fn a_lost_stream_is_parked_for_its_owner_and_resumed_by_it_only() {
    let mut stage = TestStage::default();
    // Alice launches, then her network drops.
    let first = Stream::launched(5, "Game", Some(ALICE));
    stage.start(first.clone());
    first.lose();
    assert_eq!(game(&mut stage), Some(5));
    // Teardown parks her app and vacates the slot.
    assert!(stage.park(left(5, "Game", Some(ALICE))).is_none());
    stage.vacate(|current| Arc::ptr_eq(current, &first));
    assert_eq!(
        game(&mut stage),
        Some(5),
        "still the current game for /serverinfo"
    );
    // Bob can neither launch, resume nor quit it.
    assert!(matches!(
        stage.admit_launch().outcome,
        Err(LaunchError::Busy(_))
    ));
    assert!(matches!(
        stage.take_for_resume(Some(BOB)).outcome,
        Err(LaunchError::NotYours(_))
    ));
    assert!(stage.take_for_cancel(Some(BOB)).is_err());
    // Alice resumes: the new stream holds the app, nothing is parked.
    let parked = stage.take_for_resume(Some(ALICE)).outcome.expect("resumed");
    let second = Stream::launched(5, "Game", Some(ALICE));
    stage.start(second.clone());
    assert!(stage.parked().is_none());
    assert!(Arc::ptr_eq(&stage.running().expect("streaming"), &second));
    drop(parked);
    // She quits: Bob may not, she may.
    assert!(stage.stream_to_cancel(Some(BOB)).is_err());
    let to_end = stage
        .stream_to_cancel(Some(ALICE))
        .expect("hers")
        .expect("a stream");
    to_end.end();
    assert_eq!(game(&mut stage), None, "a quit stream is no current game");
    stage.vacate(|current| Arc::ptr_eq(current, &second));
    assert!(stage.take_for_cancel(Some(ALICE)).expect("hers").is_none());
    assert!(stage.admit_launch().outcome.is_ok(), "Bob may launch now");
}
