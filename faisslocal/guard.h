//go:build faiss

// guard.h: the exception guard that bridge.cpp and check_bridge.cpp share.
// C++ only (included by the .cpp files, never by Go's cgo preamble).
#ifndef FAISSLOCAL_GUARD_H
#define FAISSLOCAL_GUARD_H

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

namespace {

// dup_error returns a malloc'd copy of msg (NULL when out of memory).
char* dup_error(const char* msg) {
    size_t n = std::strlen(msg);
    char* out = static_cast<char*>(std::malloc(n + 1));
    if (out != nullptr) {
        std::memcpy(out, msg, n + 1);
    }
    return out;
}

// guard runs f and returns NULL, or the message of the exception it threw
// as a malloc'd string.
template <class F>
char* guard(F f) {
    try {
        f();
        return nullptr;
    } catch (const std::bad_alloc&) {
        return dup_error("out of memory");
    } catch (const std::exception& e) {
        return dup_error(e.what());
    } catch (...) {
        return dup_error("unknown C++ exception");
    }
}

}  // namespace

#endif
