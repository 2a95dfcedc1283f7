// An allocator whose value-initialisation leaves the values unset, for buffers written before they are read.
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace spoca {

/// std::allocator, except that resize() and the size constructor of a container using it leave new elements
/// default-initialised (unset doubles): filling a buffer of millions of values then costs one pass, not two (a
/// zeroing first, then the writes).
template <typename T>
class UninitializedAllocator : public std::allocator<T> {
public:
    using value_type = T;
    template <typename U>
    struct rebind {
        using other = UninitializedAllocator<U>;
    };

    UninitializedAllocator() = default;
    template <typename U>
    UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}

    template <typename U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
        ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

}  // namespace spoca
