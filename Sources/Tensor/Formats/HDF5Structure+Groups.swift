// HDF5Structure+Groups: the HDF5 parser's group members: symbol tables, link messages, fractal heaps and B-trees of names (see HDF5Structure.swift).


extension HDF5Parser {

    /// The members (name, object header address) of the group whose header is at `address`.
    func members(ofGroup o: HDF5Object) throws -> [(String, Int)] {
        if o.hasDenseLinks { throw fail(.unsupported, "a group with dense link storage (fractal heap)") }
        var out = o.links
        if let (btree, heapAddress) = o.symbolTable {
            guard try bytes.signature(heapAddress, "HEAP") else { throw fail(.corrupt, "no local heap at byte \(heapAddress)") }
            let heapSize = try bytes.length(heapAddress + 8)
            guard let heapData = try bytes.address(heapAddress + 8 + 2 * bytes.lengthSize) else { throw fail(.corrupt, "local heap without data") }
            try bytes.check(heapData, heapSize, "local heap data")
            var nodes = [(btree, 0)]
            var visited = Set<Int>()
            while let (node, depth) = nodes.popLast() {
                guard depth <= Self.maxDepth, visited.insert(node).inserted else { throw fail(.corrupt, "group B-tree is cyclic or too deep") }
                guard try bytes.signature(node, "TREE"), try bytes.u8(node + 4) == 0 else { throw fail(.corrupt, "no group B-tree node at byte \(node)") }
                let level = try bytes.u8(node + 5)
                let used = try bytes.int(node + 6, 2)
                var q = node + 8 + 2 * bytes.offsetSize + bytes.lengthSize   // first key
                for _ in 0..<used {
                    guard let child = try bytes.address(q) else { throw fail(.corrupt, "group B-tree child undefined") }
                    q += bytes.offsetSize + bytes.lengthSize
                    if level > 0 {
                        nodes.append((child, depth + 1))
                    } else {
                        guard try bytes.signature(child, "SNOD") else { throw fail(.corrupt, "no symbol table node at byte \(child)") }
                        let n = try bytes.int(child + 6, 2)
                        let entrySize = 2 * bytes.offsetSize + 24
                        for i in 0..<n {
                            let e = child + 8 + i * entrySize
                            let nameOffset = try bytes.length(e)
                            guard nameOffset < heapSize else { throw fail(.corrupt, "link name offset \(nameOffset) outside the local heap") }
                            let name = try bytes.cString(heapData + nameOffset, limit: heapData + heapSize)
                            guard let header = try bytes.address(e + bytes.offsetSize) else { throw fail(.corrupt, "link '\(name)' has no object header") }
                            out.append((name, header))
                            guard out.count <= 1_000_000 else { throw fail(.corrupt, "too many group members") }
                        }
                    }
                }
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// The object header address at `path` ("/a/b"), or nil if a component is missing.
    func resolve(_ path: String) throws -> Int? {
        var address = rootAddress
        for part in path.split(separator: "/") {
            let o = try object(address)
            guard let next = try members(ofGroup: o).first(where: { $0.0 == part }) else { return nil }
            address = next.1
        }
        return address
    }

    /// Every object below the root as (path, address), depth first in name order, without cycles.
    func walk() throws -> [(String, Int)] {
        var out: [(String, Int)] = []
        var visited: Set<Int> = [rootAddress]
        func visit(_ prefix: String, _ address: Int, _ depth: Int) throws {
            guard depth <= Self.maxDepth else { throw fail(.corrupt, "groups nest deeper than \(Self.maxDepth) levels") }
            let o = try object(address)
            for (name, child) in try members(ofGroup: o) {
                guard visited.insert(child).inserted else { continue }
                let path = prefix + "/" + name
                out.append((path, child))
                guard out.count <= 1_000_000 else { throw fail(.corrupt, "too many objects") }
                try visit(path, child, depth + 1)
            }
        }
        try visit("", rootAddress, 0)
        return out
    }
}
