//! Sounds the app plays: the ringtone of an incoming call.

use web_sys::HtmlAudioElement;

/// A sound playing in a loop until dropped.
pub struct Looping(HtmlAudioElement);

impl Looping {
    /// Starts playing `url` in a loop. Browsers may refuse to play before the person has
    /// interacted with the page; the call screen is visible either way.
    pub fn start(url: &str) -> Option<Self> {
        let audio = HtmlAudioElement::new_with_src(url).ok()?;
        audio.set_loop(true);
        // A refused `play()` only rejects its promise; nothing to handle.
        let _ = audio.play();
        Some(Self(audio))
    }
}

impl Drop for Looping {
    fn drop(&mut self) {
        // `pause()` does not throw.
        let _ = self.0.pause();
        self.0.set_src("");
    }
}
