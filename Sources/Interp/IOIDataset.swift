// IOIDataset: the indirect-object-identification prompts of Docs/Method.md §4, CPython-exact for the clean set.
import Foundation
import Tensor
import Transformer
import SparseAutoencoder

/// One IOI prompt: "… [S] and [IO] … [S] gave a [OBJECT] to [IO]".
public struct IOIPrompt: Sendable, Equatable {
    public var text: String
    /// The indirect object and subject names (without the leading space).
    public var io: String
    public var s: String
    public var templateIndex: Int
    public var place: String
    public var object: String
}

/// The IOI dataset generator (Docs/Method.md §4; the `mixed` prompt type the paper uses).
public enum IOIDataset {
    public static let names = ["Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Anderson", "Andre", "Andrew", "Andy", "Anna",
        "Anthony", "Arthur", "Austin", "Blake", "Brandon", "Brian", "Carter", "Charles", "Charlie", "Christian", "Christopher",
        "Clark", "Cole", "Collins", "Connor", "Crew", "Crystal", "Daniel", "David", "Dean", "Edward", "Elizabeth", "Emily", "Eric",
        "Eva", "Ford", "Frank", "George", "Georgia", "Graham", "Grant", "Henry", "Ian", "Jack", "Jacob", "Jake", "James", "Jamie",
        "Jane", "Jason", "Jay", "Jennifer", "Jeremy", "Jessica", "John", "Jonathan", "Jordan", "Joseph", "Joshua", "Justin", "Kate",
        "Kelly", "Kevin", "Kyle", "Laura", "Leon", "Lewis", "Lisa", "Louis", "Luke", "Madison", "Marco", "Marcus", "Maria", "Mark",
        "Martin", "Mary", "Matthew", "Max", "Michael", "Michelle", "Morgan", "Patrick", "Paul", "Peter", "Prince", "Rachel",
        "Richard", "River", "Robert", "Roman", "Rose", "Ruby", "Russell", "Ryan", "Sarah", "Scott", "Sean", "Simon", "Stephen",
        "Steven", "Sullivan", "Taylor", "Thomas", "Tyler", "Victoria", "Warren", "William"]
    public static let places = ["store", "garden", "restaurant", "school", "hospital", "office", "house", "station"]
    public static let objects = ["ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack"]

    public static let babaTemplates = [
        "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
        "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
        "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
        "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
        "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
        "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
        "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
        "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
        "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
        "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
        "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
        "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
        "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
        "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
        "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
    ]

    /// BABA templates with the first `[B]` turned into `[A]` and then the first original `[A]` into `[B]`.
    public static let abbaTemplates: [String] = babaTemplates.map { t in
        var s = t
        if let b = s.range(of: "[B]") {
            s.replaceSubrange(b, with: "[X]")
            if let a = s.range(of: "[A]") { s.replaceSubrange(a, with: "[B]") }
            s = s.replacingOccurrences(of: "[X]", with: "[A]")
        }
        return s
    }

    /// `n` clean prompts of the `mixed` type with `seed`, exactly as the reference generator draws them
    /// with CPython's `random` (templates = BABA[0..<7] + ABBA[0..<7], shuffled; per prompt a template,
    /// three distinct names (IO, S and an unused third), a place and an object).
    public static func generate(count n: Int, seed: Int = 1) -> [IOIPrompt] {
        var rng = CPythonRandom(seed: seed)
        var templates = Array(babaTemplates[0..<7]) + Array(abbaTemplates[0..<7])
        rng.shuffle(&templates)
        var prompts: [IOIPrompt] = []
        for _ in 0..<n {
            let temp = rng.choice(templates)
            let idx = templates.firstIndex(of: temp)!
            var (n1, n2, n3) = ("", "", "")
            repeat {
                n1 = rng.choice(names); n2 = rng.choice(names); n3 = rng.choice(names)
            } while n1 == n2 || n1 == n3 || n2 == n3
            let place = rng.choice(places), object = rng.choice(objects)
            let text = temp.replacingOccurrences(of: "[PLACE]", with: place).replacingOccurrences(of: "[OBJECT]", with: object)
                .replacingOccurrences(of: "[A]", with: n1).replacingOccurrences(of: "[B]", with: n2)
            prompts.append(IOIPrompt(text: text, io: n1, s: n2, templateIndex: idx, place: place, object: object))
        }
        return prompts
    }

    /// Token positions of one prompt (Docs/Method.md §4.4): IO, S1, S2, end (the position predicting the final
    /// IO), the " and" between the names, and the last "." (else ",").
    public struct Positions: Sendable, Equatable {
        public var io: Int, s1: Int, s2: Int, end: Int, and: Int, punct: Int?
        /// "ABBA" when IO comes first in the text, "BABA" otherwise — decided on token positions
        /// (Docs/Deviations.md #16), not by substring search.
        public var template: String { io < s1 ? "ABBA" : "BABA" }
    }

    /// Positions from the prompt's tokens (no BOS; add 1 to each when a BOS is prepended).
    public static func positions(_ p: IOIPrompt, tokenizer: GPT2Tokenizer) -> Positions? {
        let full = tokenizer.encode(p.text)
        guard let ioTok = tokenizer.singleToken(" " + p.io), let sTok = tokenizer.singleToken(" " + p.s) else { return nil }
        let body = Array(full.dropLast())     // without the final IO
        guard full.last == ioTok, let io = body.firstIndex(of: ioTok), let s1 = body.firstIndex(of: sTok),
              let s2 = body.lastIndex(of: sTok), s2 > s1, let and = tokenizer.singleToken(" and"),
              let andPos = body.firstIndex(of: and) else { return nil }
        let dot = tokenizer.singleToken("."), comma = tokenizer.singleToken(",")
        let punct = dot.flatMap { body.lastIndex(of: $0) } ?? comma.flatMap { body.lastIndex(of: $0) }
        return Positions(io: io, s1: s1, s2: s2, end: full.count - 2, and: andPos, punct: punct)
    }
}

extension IOIDataset {
    /// The corrupted dataset of Docs/Method.md §4.5 for a flip such as `"ABB->CDD, BAB->DCD"`: in each prompt the
    /// first three words that are names (the pattern `ABB` for ABBA prompts, `BAB` for BABA ones) are
    /// rewritten by the new pattern; letters new to the pattern get names drawn uniformly from the
    /// sorted names not in the prompt, with our own seeded stream (`seed + Σ ord(flip)`, Docs/Deviations.md
    /// #15 — the reference's draw depends on hash order and is not reproducible even in Python). The
    /// final IO word is unchanged. Returns nil for a prompt without three name words.
    /// - Throws: ``InterpError/invalidFlip(flip:reason:)`` when a rule is not `XYZ->UVW` (three letters
    ///   each side), or when a prompt's pattern (`ABB` or `BAB`) has no rule — a prompt is never
    ///   returned unchanged as if it were corrupted.
    public static func corrupted(_ prompts: [IOIPrompt], flip: String, seed: Int = 1) throws -> [IOIPrompt?] {
        var rules: [String: String] = [:]
        for part in flip.split(separator: ",") {
            let sides = part.trimmingCharacters(in: .whitespaces).components(separatedBy: "->")
            guard sides.count == 2, sides.allSatisfy({ $0.count == 3 && $0.allSatisfy(\.isLetter) }), rules[sides[0]] == nil else {
                throw InterpError.invalidFlip(flip: flip, reason: "'\(part)' is not a rule of three letters each side (e.g. ABB->CDD), or repeats one")
            }
            rules[sides[0]] = sides[1]
        }
        var rng = RandomStream(seed: UInt64(seed + flip.unicodeScalars.reduce(0) { $0 + Int($1.value) }))
        let nameSet = Set(names)
        return try prompts.map { p in
            var words = p.text.components(separatedBy: " ")
            let nameIdx = words.indices.filter { nameSet.contains(words[$0]) }.prefix(3)
            guard nameIdx.count == 3 else { return nil }
            let original = nameIdx.map { words[$0] }
            let key = original[0] == p.io ? "ABB" : "BAB"
            guard let pattern = rules[key] else {
                throw InterpError.invalidFlip(flip: flip, reason: "no rule for the pattern \(key) of the prompt '\(p.text)'")
            }
            var letter: [Character: String] = [:]
            for (c, n) in zip(key, original) { letter[c] = n }
            let complement = names.filter { !original.contains($0) }.sorted()
            for c in pattern where letter[c] == nil { letter[c] = complement[rng.nextInt(below: complement.count)] }
            let newNames = pattern.map { letter[$0]! }
            for (i, n) in zip(nameIdx, newNames) { words[i] = n }
            let letters = Array(pattern)
            // New IO: the one of the first two letters that occurs once in the pattern (else the second).
            let ioLetter = letters.prefix(2).first { c in letters.filter { $0 == c }.count == 1 } ?? letters[1]
            var q = p
            q.text = words.joined(separator: " ")
            q.s = letter[letters[2]]!
            q.io = letter[ioLetter]!
            return q
        }
    }
}
