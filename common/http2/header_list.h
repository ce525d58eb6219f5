#pragma once
// HeaderList: the name/value array nghttp2 takes when a header block is submitted (requests,
// responses, trailers). nghttp2 copies the fields on submit, so a list only has to live until
// the submit call returns.

#include <nghttp2/nghttp2.h>

#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace ambit::http2 {

class HeaderList {
 public:
  HeaderList() = default;
  HeaderList(const HeaderList&) = delete;  // the array points into owned_
  HeaderList& operator=(const HeaderList&) = delete;

  // Adds a field that refers to `name` and `value`; both must outlive the submit.
  void addView(std::string_view name, std::string_view value) {
    nghttp2_nv nv{};
    nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
    nv.namelen = name.size();
    nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
    nv.valuelen = value.size();
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    nv_.push_back(nv);
  }
  // Adds a field the list keeps a copy of.
  void add(std::string name, std::string value) {
    owned_.push_back(std::move(name));
    const std::string& n = owned_.back();
    owned_.push_back(std::move(value));
    addView(n, owned_.back());
  }

  const nghttp2_nv* data() const { return nv_.data(); }
  size_t size() const { return nv_.size(); }
  bool empty() const { return nv_.empty(); }

 private:
  std::deque<std::string> owned_;  // stable addresses for copied fields
  std::vector<nghttp2_nv> nv_;
};

}  // namespace ambit::http2
