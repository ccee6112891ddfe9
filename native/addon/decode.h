// Layout of the batch index written by `decode` (decode.cc) and read by lib/native/frame-view.ts.
// Keep both in sync: the addon exports these numbers and the loader checks them.
#ifndef TSHA_ADDON_DECODE_H_
#define TSHA_ADDON_DECODE_H_

#include <cstddef>

namespace tsha {
namespace index_layout {

// Header: index[0 .. kHeaderSize).
constexpr size_t kHeaderSize = 8;
constexpr size_t kHFrames = 0;         // frames written
constexpr size_t kHAttrs = 1;          // attribute offsets written
constexpr size_t kHConsumed = 2;       // bytes of whole accepted frames
constexpr size_t kHErrno = 3;          // 0 or the ErrorCode of the first bad frame
constexpr size_t kHErrorOffset = 4;    // offset of the bad frame's length prefix
constexpr size_t kHNextFrameSize = 5;  // stopped at a partial frame with a complete prefix: its total size
constexpr size_t kHFull = 6;           // 1 when the output arrays were too small (decoding stopped early)

// Records: index[kHeaderSize + i * kStride + field].
constexpr size_t kStride = 8;
constexpr size_t kROffset = 0;     // offset of the frame's length prefix in the input
constexpr size_t kRLength = 1;     // body length (frame = 4 + length bytes)
constexpr size_t kRKind = 2;       // 1 message, 2 ADDP poll, 3 ADDP reply
constexpr size_t kRType = 3;       // TMessageType id; the token for ADDP frames
constexpr size_t kRSeq = 4;        // EventSequenceNumber or -1 (exact up to 2^53)
constexpr size_t kRRef = 5;        // ReferenceID or -1
constexpr size_t kRAttrStart = 6;  // first index into the attribute offset array
constexpr size_t kRAttrCount = 7;  // number of attributes

}  // namespace index_layout
}  // namespace tsha

#endif  // TSHA_ADDON_DECODE_H_
