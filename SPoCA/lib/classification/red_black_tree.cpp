#include "classification/red_black_tree.hpp"

#include <tuple>
#include <utility>

#include "core/error.hpp"

namespace spoca {

RedBlackTreeShape::RedBlackTreeShape(std::size_t capacity) { nodes_.reserve(capacity); }

void RedBlackTreeShape::insert(std::uint64_t key) {
    if (nodes_.size() >= none) throw Error("too many keys for the red-black tree simulation");
    const auto z = static_cast<std::uint32_t>(nodes_.size());
    std::uint32_t parent = none;
    bool asLeft = false;
    for (std::uint32_t node = root_; node != none;) {
        parent = node;
        asLeft = key < nodes_[node].key;
        node = asLeft ? nodes_[node].left : nodes_[node].right;
    }
    nodes_.push_back({key, none, none, parent, true});
    if (parent == none) {
        root_ = z;
    } else if (asLeft) {
        nodes_[parent].left = z;
    } else {
        nodes_[parent].right = z;
    }
    rebalance(z);
}

void RedBlackTreeShape::rebalance(std::uint32_t z) {
    while (z != root_ && isRed(nodes_[z].parent)) {
        const std::uint32_t p = nodes_[z].parent;
        const std::uint32_t g = nodes_[p].parent;  // exists: a red parent is never the root
        const bool parentIsLeft = nodes_[g].left == p;
        const std::uint32_t uncle = parentIsLeft ? nodes_[g].right : nodes_[g].left;
        if (isRed(uncle)) {
            nodes_[p].red = false;
            nodes_[uncle].red = false;
            nodes_[g].red = true;
            z = g;
            continue;
        }
        if (parentIsLeft && z == nodes_[p].right) {  // inner grandchild: bring z up first
            z = p;
            rotateLeft(z);
        } else if (!parentIsLeft && z == nodes_[p].left) {
            z = p;
            rotateRight(z);
        }
        nodes_[nodes_[z].parent].red = false;
        nodes_[g].red = true;
        if (parentIsLeft) {
            rotateRight(g);
        } else {
            rotateLeft(g);
        }
    }
    nodes_[root_].red = false;
}

void RedBlackTreeShape::replaceChild(std::uint32_t parent, std::uint32_t from, std::uint32_t to) {
    if (parent == none) {
        root_ = to;
    } else if (nodes_[parent].left == from) {
        nodes_[parent].left = to;
    } else {
        nodes_[parent].right = to;
    }
}

void RedBlackTreeShape::rotateLeft(std::uint32_t x) {
    const std::uint32_t y = nodes_[x].right;
    nodes_[x].right = nodes_[y].left;
    if (nodes_[y].left != none) nodes_[nodes_[y].left].parent = x;
    nodes_[y].parent = nodes_[x].parent;
    replaceChild(nodes_[x].parent, x, y);
    nodes_[y].left = x;
    nodes_[x].parent = y;
}

void RedBlackTreeShape::rotateRight(std::uint32_t x) {
    const std::uint32_t y = nodes_[x].left;
    nodes_[x].left = nodes_[y].right;
    if (nodes_[y].right != none) nodes_[nodes_[y].right].parent = x;
    nodes_[y].parent = nodes_[x].parent;
    replaceChild(nodes_[x].parent, x, y);
    nodes_[y].right = x;
    nodes_[x].parent = y;
}

bool RedBlackTreeShape::largestHasLeftChild() const {
    if (root_ == none) return false;
    std::uint32_t node = root_;
    while (nodes_[node].right != none) node = nodes_[node].right;
    return nodes_[node].left != none;
}

std::vector<RedBlackTreeShape::Node> RedBlackTreeShape::inOrder() const {
    std::vector<Node> result;
    result.reserve(nodes_.size());
    std::vector<std::pair<std::uint32_t, unsigned>> path;  // nodes still to visit, with their depths
    std::uint32_t node = root_;
    unsigned depth = 0;
    while (node != none || !path.empty()) {
        for (; node != none; node = nodes_[node].left) path.emplace_back(node, depth++);
        std::tie(node, depth) = path.back();
        path.pop_back();
        result.push_back({depth, nodes_[node].red});
        node = nodes_[node].right;
        ++depth;
    }
    return result;
}

bool largestHasLeftChild(const std::vector<std::uint64_t>& keys) {
    RedBlackTreeShape tree(keys.size());
    for (const std::uint64_t key : keys) tree.insert(key);
    return tree.largestHasLeftChild();
}

}  // namespace spoca
