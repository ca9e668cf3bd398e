package aws

import (
	"bytes"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// detachedBody hands net/http a private copy of each request body.
//
// It works around a race between smithy-go and net/http: smithy-go closes
// the request body as soon as Do returns (after the response headers),
// while net/http's writeLoop may still make its final read of the body to
// check its length. smithy-go's closed body answers that read (WriteTo)
// with io.EOF as an error, and net/http then closes the connection under
// the response body being read, failing the call with "use of closed
// network connection" (aws/aws-sdk-go-v2#2737; the SDK retries that error
// since #2949, which costs an attempt). Against a nearby endpoint (a local
// fake, LocalStack) it hits one call in a few dozen. EC2 request bodies are
// small forms, so copying them is cheap.
type detachedBody struct{ next ec2.HTTPClient }

// DetachedBodyClient wraps an SDK HTTP client with the body copy above;
// anything that builds its own EC2 client against a nearby endpoint (the
// fake's own tests) should use it.
func DetachedBodyClient(next ec2.HTTPClient) ec2.HTTPClient { return detachedBody{next: next} }

func (c detachedBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.next.Do(req)
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	own := req.Clone(req.Context())
	own.Body = io.NopCloser(bytes.NewReader(b))
	own.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	own.ContentLength = int64(len(b))
	return c.next.Do(own)
}
