// The shape of a red-black tree built by textbook insertions (CLRS RB-INSERT, as libstdc++'s std::set does),
// which decides where the original's "random" initialisation lands past the end of its histogram (compat 5.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spoca {

/// A red-black tree of distinct integer keys, kept only for its shape: the original's std::set of bins is
/// simulated on the bins' ranks, so no values are needed. Nodes live in vectors indexed by insertion.
class RedBlackTreeShape {
public:
    /// Reserves room for `capacity` keys.
    explicit RedBlackTreeShape(std::size_t capacity = 0);

    /// Inserts `key` (distinct from every key already in the tree): descend from the root, left when the
    /// key is smaller than the node's key, right when larger; attach a red leaf; then rebalance. At most
    /// 2^32 - 1 keys.
    void insert(std::uint64_t key);

    /// Whether the node of the largest key has a left child (false for an empty tree).
    bool largestHasLeftChild() const;

    /// The whole shape, for checking the simulation: the depth (root 0) and colour of every node, in key order.
    struct Node {
        unsigned depth;
        bool red;
    };
    std::vector<Node> inOrder() const;

    std::size_t size() const { return nodes_.size(); }

private:
    static constexpr std::uint32_t none = 0xFFFFFFFFu;

    /// One node, its links as indices into nodes_ (compact, so that a descent stays in cache).
    struct Link {
        std::uint64_t key;
        std::uint32_t left, right, parent;
        bool red;
    };

    bool isRed(std::uint32_t node) const { return node != none && nodes_[node].red; }
    void rotateLeft(std::uint32_t x);
    void rotateRight(std::uint32_t x);
    void replaceChild(std::uint32_t parent, std::uint32_t from, std::uint32_t to);
    void rebalance(std::uint32_t z);

    std::vector<Link> nodes_;
    std::uint32_t root_ = none;
};

/// Whether the largest key has a left child once `keys` (distinct) are inserted in that order.
bool largestHasLeftChild(const std::vector<std::uint64_t>& keys);

}  // namespace spoca
