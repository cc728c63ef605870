//! Call scripts (DESIGN §2.4, issue 14), one folder: the script API (a client's scripts, their
//! draft and published versions, JSON import and export, the campaign's pick), a call's run
//! through its script (the server keeps the run and refuses to move past unfinished required
//! tasks; the desktop only follows), and the pages (the list and the step builder). The script
//! model and its rules are pure, in `palera_core::script`; storage is `palera_store::scripts`.

pub mod api;
pub mod pages;
pub mod run;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    Router::new()
        .merge(api::routes())
        .merge(run::routes())
        .merge(pages::routes())
}
