//! Browser entry point: mounts the app. Built by Trunk (see index.html).

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(weft_web::App);
}
