"""The simulator's vocabularies and the API fields of its videos (``videoperf.data.synthetic`` draws the dynamics).

* tables: categories (share, popularity effect, like ratio, duration, lifecycle multipliers, title words and tag
  phrases; ids and names follow ``categories.json``), languages with the countries they chart in, channel names;
* fields: random YouTube ids, channel titles, video titles and tags from those vocabularies, the metadata flags,
  ISO-8601 durations;
* the raw trending export (``RAW_COLUMNS``, every value a string) that both simulator modes write.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RAW_COLUMNS: tuple[str, ...] = (
    "video_id", "country", "fetched_at", "published_at", "title", "localized_title", "channel_title",
    "channel_id", "category_id", "category_name", "tags", "tag_count", "default_language",
    "audio_language", "is_live", "duration", "duration_raw", "definition", "caption_available",
    "licensed_content", "embeddable", "made_for_kids", "views", "likes", "comments",
)

# Per category: (id, name, share, log-popularity effect, median like ratio, median duration s,
# peak-day multiplier, decay multiplier, title words, tag phrases). Ids/names follow categories.json.
CATEGORIES: tuple[tuple, ...] = (
    ("10", "Music", 0.24, 0.3, 0.030, 220, 1.2, 0.8,
     "official music video song lyric audio remix live feat album single acoustic love night heart dance",
     "music, new song, official video, pop, hip hop, lyrics, remix, album, live performance, singer, rap"),
    ("20", "Gaming", 0.22, 0.0, 0.040, 1200, 0.9, 1.1,
     "minecraft roblox fortnite gameplay challenge survival speedrun boss update season hardcore noob pro",
     "gaming, gameplay, minecraft, roblox, fortnite, lets play, walkthrough, speedrun, funny moments, gamer"),
    ("24", "Entertainment", 0.14, 0.1, 0.028, 300, 1.0, 1.0,
     "trailer episode teaser full show reaction season finale behind scenes celebrity interview premiere",
     "entertainment, trailer, tv show, episode, reaction, celebrity, teaser, series, drama, web series"),
    ("1", "Film & Animation", 0.07, 0.0, 0.025, 150, 1.0, 1.0,
     "movie trailer animation short film cartoon official teaser cinema clip scene animated story",
     "movie, film, trailer, animation, cartoon, short film, cinema, official trailer, animated, clip"),
    ("22", "People & Blogs", 0.08, -0.2, 0.030, 420, 1.0, 1.0,
     "vlog day life family prank my we tried story house first time surprise routine",
     "vlog, daily vlog, family, prank, lifestyle, my life, storytime, challenge, couple, day in my life"),
    ("17", "Sports", 0.06, 0.0, 0.015, 600, 0.6, 1.4,
     "highlights goals match vs final league cup best skills derby penalty championship",
     "football, soccer, highlights, goals, sports, match, premier league, nba, cricket, champions league"),
    ("25", "News & Politics", 0.05, -0.3, 0.020, 600, 0.5, 1.6,
     "breaking news live update election president government report crisis debate explained",
     "news, breaking news, politics, live news, election, world news, headlines, government"),
    ("23", "Comedy", 0.05, 0.0, 0.055, 600, 1.0, 0.9,
     "funny sketch comedy stand up prank parody jokes hilarious skit roast",
     "comedy, funny, sketch, standup, parody, jokes, humor, skit, memes, laugh"),
    ("26", "Howto & Style", 0.035, -0.3, 0.060, 480, 1.3, 0.7,
     "how to makeup tutorial recipe easy diy hair outfit tips cooking hacks",
     "how to, tutorial, diy, makeup, recipe, cooking, beauty, fashion, hacks, tips"),
    ("27", "Education", 0.035, -0.4, 0.050, 700, 1.4, 0.6,
     "explained history science why learn facts lesson guide documentary math",
     "education, learning, explained, history, science, facts, documentary, lesson, study"),
    ("28", "Science & Technology", 0.03, -0.2, 0.040, 800, 1.2, 0.8,
     "iphone review unboxing ai tech new test smartphone vs camera space rocket",
     "technology, tech, review, unboxing, smartphone, ai, gadgets, iphone, android, space"),
)
CATEGORY_SHARE = np.array([c[2] for c in CATEGORIES]) / sum(c[2] for c in CATEGORIES)

# Per language: (share, countries it trends in, a few title words in that language).
LANGUAGES: dict[str, tuple[float, tuple[str, ...], str]] = {
    "en": (0.38, ("US", "GB", "CA", "AU", "IN", "NZ", "IE", "ZA", "NG", "PH"), "new best"),
    "es": (0.16, ("MX", "ES", "AR", "CO", "CL", "PE", "US"), "nuevo oficial mejor"),
    "hi": (0.08, ("IN", "NP", "AE"), "naya gaana desi"),
    "pt": (0.07, ("BR", "PT"), "novo oficial melhor"),
    "ko": (0.05, ("KR", "US", "JP"), "신곡 공식"),
    "ja": (0.05, ("JP",), "公式 新曲"),
    "ar": (0.07, ("SA", "AE", "EG", "IQ", "MA"), "جديد حصريا"),
    "ru": (0.05, ("RU", "UA", "KZ", "BY"), "новый клип"),
    "fr": (0.04, ("FR", "CA", "BE", "MA"), "nouveau officiel"),
    "de": (0.03, ("DE", "AT", "CH"), "neu offiziell"),
    "id": (0.02, ("ID", "MY"), "baru resmi"),
}
LANGUAGE_CODES = tuple(LANGUAGES)
LANGUAGE_SHARE = np.array([v[0] for v in LANGUAGES.values()]) / sum(v[0] for v in LANGUAGES.values())
COUNTRIES = tuple(sorted({c for v in LANGUAGES.values() for c in v[1]}))
NAME_WORDS = ("Nova", "Star", "Blue", "Prime", "Urban", "Daily", "Golden", "Pixel", "Echo", "River", "Sky",
              "Royal", "Wild", "Zen", "Bright", "Alpha", "Luna", "Max", "Iron", "Velvet", "Vibe", "Neon",
              "Happy", "Crazy", "Little", "Big", "Rocket", "Jade", "Coral", "Maple")
NAME_SUFFIX = {"10": "Music", "20": "Gaming", "25": "News", "17": "Sports", "24": "TV", "23": "Comedy",
               "27": "Academy", "28": "Tech", "26": "Kitchen", "1": "Studios", "22": "Vlogs"}
_ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def random_ids(rng: np.random.Generator, n: int, length: int, prefix: str = "") -> np.ndarray:
    """Unique random ids of ``length`` characters from the YouTube id alphabet."""
    while True:
        chars = _ID_ALPHABET[rng.integers(0, len(_ID_ALPHABET), size=(n, length))]
        ids = np.ascontiguousarray(chars).view(f"<U{length}").ravel()
        if len(np.unique(ids)) == n:  # collisions are astronomically rare; redraw rather than patch
            return np.char.add(prefix, ids).astype(object)


def _iso_duration(seconds: np.ndarray) -> list[str]:
    """ISO-8601 durations as the API writes them (``PT3M49S``, ``PT31S``, ``PT1H2M``)."""
    out = []
    for s in seconds.tolist():
        h, m, sec = s // 3600, s % 3600 // 60, s % 60
        out.append("PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{sec}S" if sec or s == 0 else ""))
    return out


def channel_titles(rng: np.random.Generator, cat: np.ndarray) -> list[str]:
    """A name per channel from two name words, most often followed by its main category's suffix."""
    first = rng.choice(NAME_WORDS, size=len(cat))
    second = rng.choice(NAME_WORDS, size=len(cat))
    return [f"{a} {b} {NAME_SUFFIX[CATEGORIES[c][0]]}" if rng.random() < 0.6 else f"{a}{b}"
            for a, b, c in zip(first, second, cat)]


def country_weights() -> np.ndarray:
    """(language x country) audience weights: a language's main country 2, its other countries 1, else 0.01."""
    weights = np.full((len(LANGUAGE_CODES), len(COUNTRIES)), 0.01)
    for i, code in enumerate(LANGUAGE_CODES):
        for rank, c in enumerate(LANGUAGES[code][1]):
            weights[i, COUNTRIES.index(c)] = 2.0 if rank == 0 else 1.0
    return weights


def _video_text(rng: np.random.Generator, v: pd.DataFrame, ch: pd.DataFrame) -> tuple[list, list, list]:
    """Titles, tag strings and tag counts from category vocabularies, language and channel name."""
    n = len(v)
    title_vocab = [c[8].split() for c in CATEGORIES]
    tag_vocab = [c[9].split(", ") for c in CATEGORIES]
    chan_title = ch["channel_title"].to_numpy()[v["chan"].to_numpy()]
    cats, langs = v["cat"].to_numpy(), v["language"].to_numpy()
    n_words = rng.integers(3, 7, n)
    word_u = rng.random((n, 6))
    lang_u, pipe_u, shorts_u = rng.random(n), rng.random(n), rng.random(n)
    has_tags = rng.random(n) < ch["p_tags"].to_numpy()[v["chan"].to_numpy()]
    n_tags = rng.integers(3, 16, n)
    tag_u = rng.random((n, 15))
    duration = v["duration_seconds"].to_numpy()
    titles, tags, counts = [], [], []
    for i in range(n):
        vocab = title_vocab[cats[i]]
        words = list(dict.fromkeys(vocab[int(u * len(vocab))] for u in word_u[i, : n_words[i]]))
        words[0] = words[0].capitalize()
        if langs[i] != "en" and lang_u[i] < 0.5:  # half the titles carry a word of the channel's language
            local = LANGUAGES[langs[i]][2].split()
            words.insert(0, local[int(lang_u[i] * 2 * len(local))])
        title = " ".join(words)
        if pipe_u[i] < 0.3:
            title += f" | {chan_title[i]}"
        if duration[i] <= 60 and shorts_u[i] < 0.5:
            title += " #shorts"
        titles.append(title)
        tv = tag_vocab[cats[i]]
        picked = dict.fromkeys([chan_title[i]] + [tv[int(u * len(tv))] for u in tag_u[i, : n_tags[i]]])
        tags.append(", ".join(picked) if has_tags[i] else "")
        counts.append(str(len(picked)) if has_tags[i] else "0")
    return titles, tags, counts


def _flags(rng: np.random.Generator, v: pd.DataFrame, ch: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-video metadata fields known before publishing, as API strings."""
    n = len(v)
    name = v["category_name"].to_numpy()
    lang = v["language"].to_numpy()

    def tf(mask: np.ndarray) -> np.ndarray:
        return np.where(mask, "True", "False")

    p_cap = ch["p_caption"].to_numpy()[v["chan"].to_numpy()]
    p_cap = np.where(np.isin(name, ["Education", "Science & Technology", "News & Politics"]),
                     np.maximum(p_cap, 0.45), p_cap)
    live_ok = np.isin(name, ["Gaming", "Sports", "News & Politics"])
    kids_ok = np.isin(name, ["Film & Animation", "Gaming", "Education"])
    # The real export often states default_language "en" or nothing even for non-English audio.
    u = rng.random(n)
    default = np.where(u < 0.1, "", np.where(u < 0.35, "en", lang))
    audio = np.where(rng.random(n) < 0.05, "und", lang)
    return {
        "default_language": default, "audio_language": audio,
        "is_live": tf(live_ok & (rng.random(n) < 0.01)),
        "definition": np.where(rng.random(n) < 0.01, "sd", "hd"),
        "caption_available": tf(rng.random(n) < p_cap),
        "licensed_content": tf(rng.random(n) < 0.9),
        "embeddable": tf(rng.random(n) < 0.1),
        "made_for_kids": tf(kids_ok & (rng.random(n) < 0.05)),
    }


def video_fields(rng: np.random.Generator, v: pd.DataFrame, ch: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every per-video column of the raw export (text, category, duration, flags) as API strings."""
    titles, tags, counts = _video_text(rng, v, ch)
    per_video = {
        "video_id": v["video_id"].to_numpy(),
        "published_at": v["published_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
        "title": np.array(titles, dtype=object), "channel_title": ch["channel_title"].to_numpy()[v["chan"].to_numpy()],
        "channel_id": v["channel_id"].to_numpy(), "category_id": v["category_id"].to_numpy(),
        "category_name": v["category_name"].to_numpy(), "tags": np.array(tags, dtype=object),
        "tag_count": np.array(counts, dtype=object), "duration": v["duration_seconds"].astype(str).to_numpy(),
        "duration_raw": np.array(_iso_duration(v["duration_seconds"].to_numpy()), dtype=object),
        **_flags(rng, v, ch),
    }
    per_video["localized_title"] = per_video["title"]
    return per_video


def format_raw(per_video: dict[str, np.ndarray], vid: np.ndarray, country: np.ndarray, fetch_s: np.ndarray,
               views: np.ndarray, likes: np.ndarray, comments: np.ndarray) -> pd.DataFrame:
    """Assemble the string-typed raw export, one row per (video ``vid``, country, fetch), in fetch order."""
    fetched = np.datetime_as_string(np.round(fetch_s * 1e6).astype(np.int64).astype("datetime64[us]"),
                                    unit="us")
    cols = {c: per_video[c][vid] for c in per_video}
    cols.update({
        "country": np.array(COUNTRIES)[country],
        "fetched_at": np.char.add(fetched.astype(str), "+00:00"),
        "views": views.astype(np.int64).astype(str), "likes": likes.astype(np.int64).astype(str),
        "comments": comments.astype(np.int64).astype(str),
    })
    raw = pd.DataFrame({c: cols[c] for c in RAW_COLUMNS}).astype("str")
    return raw.sort_values(["fetched_at", "video_id"], kind="stable").reset_index(drop=True)
