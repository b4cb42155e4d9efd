#ifndef CERVELLA_CCURLSHIM_H
#define CERVELLA_CCURLSHIM_H

/// Typed wrappers for libcurl's variadic functions.
///
/// Swift cannot call C variadic functions, and curl_easy_setopt, curl_easy_getinfo and
/// curl_multi_setopt are variadic. Each wrapper fixes the type of the last argument, the
/// way swift-corelibs-foundation's CFURLSession_easy_setopt_long does. Nothing else lives
/// here: all logic stays in Swift.

#include <curl/curl.h>

/// The signature libcurl expects for CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
typedef size_t (*cervella_curl_data_callback)(char *data, size_t size, size_t count, void *userdata);

CURLcode cervella_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode cervella_curl_easy_setopt_ptr(CURL *handle, CURLoption option, const void *value);
CURLcode cervella_curl_easy_setopt_int64(CURL *handle, CURLoption option, curl_off_t value);
CURLcode cervella_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
/// For CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION: a function pointer must not be
/// passed through `void *` (the C standard does not promise the conversion round-trips).
CURLcode cervella_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, cervella_curl_data_callback value);

CURLcode cervella_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);

CURLMcode cervella_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value);

#endif
