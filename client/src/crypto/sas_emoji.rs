//! The SAS emoji table, `data-definitions/sas-emoji.json` of the Matrix spec: number → emoji
//! and English name. Both sides of a verification map the same 6-bit numbers through this
//! table, so it must match the spec exactly (Element shows these names under the emoji).

/// One emoji of the short authentication string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SasEmoji {
    /// The emoji (some with U+FE0F, the emoji presentation selector, as in the spec).
    pub symbol: &'static str,
    /// The spec's English description.
    pub description: &'static str,
}

const fn e(symbol: &'static str, description: &'static str) -> SasEmoji {
    SasEmoji {
        symbol,
        description,
    }
}

/// The 64 emoji, indexed by number.
pub const SAS_EMOJI: [SasEmoji; 64] = [
    e("\u{1F436}", "Dog"),              // 0 🐶
    e("\u{1F431}", "Cat"),              // 1 🐱
    e("\u{1F981}", "Lion"),             // 2 🦁
    e("\u{1F40E}", "Horse"),            // 3 🐎
    e("\u{1F984}", "Unicorn"),          // 4 🦄
    e("\u{1F437}", "Pig"),              // 5 🐷
    e("\u{1F418}", "Elephant"),         // 6 🐘
    e("\u{1F430}", "Rabbit"),           // 7 🐰
    e("\u{1F43C}", "Panda"),            // 8 🐼
    e("\u{1F413}", "Rooster"),          // 9 🐓
    e("\u{1F427}", "Penguin"),          // 10 🐧
    e("\u{1F422}", "Turtle"),           // 11 🐢
    e("\u{1F41F}", "Fish"),             // 12 🐟
    e("\u{1F419}", "Octopus"),          // 13 🐙
    e("\u{1F98B}", "Butterfly"),        // 14 🦋
    e("\u{1F337}", "Flower"),           // 15 🌷
    e("\u{1F333}", "Tree"),             // 16 🌳
    e("\u{1F335}", "Cactus"),           // 17 🌵
    e("\u{1F344}", "Mushroom"),         // 18 🍄
    e("\u{1F30F}", "Globe"),            // 19 🌏
    e("\u{1F319}", "Moon"),             // 20 🌙
    e("\u{2601}\u{FE0F}", "Cloud"),     // 21 ☁️
    e("\u{1F525}", "Fire"),             // 22 🔥
    e("\u{1F34C}", "Banana"),           // 23 🍌
    e("\u{1F34E}", "Apple"),            // 24 🍎
    e("\u{1F353}", "Strawberry"),       // 25 🍓
    e("\u{1F33D}", "Corn"),             // 26 🌽
    e("\u{1F355}", "Pizza"),            // 27 🍕
    e("\u{1F382}", "Cake"),             // 28 🎂
    e("\u{2764}\u{FE0F}", "Heart"),     // 29 ❤️
    e("\u{1F600}", "Smiley"),           // 30 😀
    e("\u{1F916}", "Robot"),            // 31 🤖
    e("\u{1F3A9}", "Hat"),              // 32 🎩
    e("\u{1F453}", "Glasses"),          // 33 👓
    e("\u{1F527}", "Spanner"),          // 34 🔧
    e("\u{1F385}", "Santa"),            // 35 🎅
    e("\u{1F44D}", "Thumbs Up"),        // 36 👍
    e("\u{2602}\u{FE0F}", "Umbrella"),  // 37 ☂️
    e("\u{231B}", "Hourglass"),         // 38 ⌛
    e("\u{23F0}", "Clock"),             // 39 ⏰
    e("\u{1F381}", "Gift"),             // 40 🎁
    e("\u{1F4A1}", "Light Bulb"),       // 41 💡
    e("\u{1F4D5}", "Book"),             // 42 📕
    e("\u{270F}\u{FE0F}", "Pencil"),    // 43 ✏️
    e("\u{1F4CE}", "Paperclip"),        // 44 📎
    e("\u{2702}\u{FE0F}", "Scissors"),  // 45 ✂️
    e("\u{1F512}", "Lock"),             // 46 🔒
    e("\u{1F511}", "Key"),              // 47 🔑
    e("\u{1F528}", "Hammer"),           // 48 🔨
    e("\u{260E}\u{FE0F}", "Telephone"), // 49 ☎️
    e("\u{1F3C1}", "Flag"),             // 50 🏁
    e("\u{1F682}", "Train"),            // 51 🚂
    e("\u{1F6B2}", "Bicycle"),          // 52 🚲
    e("\u{2708}\u{FE0F}", "Aeroplane"), // 53 ✈️
    e("\u{1F680}", "Rocket"),           // 54 🚀
    e("\u{1F3C6}", "Trophy"),           // 55 🏆
    e("\u{26BD}", "Ball"),              // 56 ⚽
    e("\u{1F3B8}", "Guitar"),           // 57 🎸
    e("\u{1F3BA}", "Trumpet"),          // 58 🎺
    e("\u{1F514}", "Bell"),             // 59 🔔
    e("\u{2693}", "Anchor"),            // 60 ⚓
    e("\u{1F3A7}", "Headphones"),       // 61 🎧
    e("\u{1F4C1}", "Folder"),           // 62 📁
    e("\u{1F4CC}", "Pin"),              // 63 📌
];
