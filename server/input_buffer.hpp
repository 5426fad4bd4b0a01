#pragma once

/// A connection's read buffer: contiguous, so that Beast's parser sees a whole header at
/// once; capped, so that no client can make it grow; and borrowed from a per-thread
/// recycler only while it holds bytes, so that an idle connection holds none.

#include "server/recycler.hpp"

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace cvp {

class input_buffer
{
public:
    /// At most `capacity` bytes are ever held.
    explicit input_buffer(std::size_t capacity) noexcept
        : capacity_(capacity)
    {}
    ~input_buffer() { release(); }
    input_buffer(input_buffer const&) = delete;
    input_buffer& operator=(input_buffer const&) = delete;

    /// The bytes read and not yet consumed.
    std::string_view data() const noexcept
    {
        return block_ ? std::string_view{block_->bytes.get() + begin_, end_ - begin_} : std::string_view{};
    }
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }

    void consume(std::size_t n) noexcept
    {
        begin_ += n;
        if (begin_ == end_)
            begin_ = end_ = 0;
    }

    /// Space to read into, after moving what is held to the front; empty when full.
    std::span<char> prepare()
    {
        if (!block_ || block_->size != capacity_) {
            release();
            block_ = recycler<block>::take();
            if (block_->size != capacity_) {
                block_->bytes = std::make_unique_for_overwrite<char[]>(capacity_);
                block_->size = capacity_;
            }
        }
        if (begin_ > 0) {
            std::memmove(block_->bytes.get(), block_->bytes.get() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        return {block_->bytes.get() + end_, capacity_ - end_};
    }
    void commit(std::size_t n) noexcept { end_ += n; }

    /// Gives the storage back when nothing is held in it.
    void release()
    {
        if (block_ && empty()) {
            recycler<block>::give(std::move(block_));
            block_.reset();
        }
    }

private:
    struct block
    {
        std::unique_ptr<char[]> bytes;
        std::size_t size = 0;
    };

    std::size_t capacity_;
    std::unique_ptr<block> block_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

} // namespace cvp
