package aws

import (
	"context"
	"regexp"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// CanonicalOwner is the AWS account Canonical publishes Ubuntu images
// from. Filtering on it matters: anyone can publish an image whose name
// looks like Ubuntu's.
const CanonicalOwner = "099720109477"

// ubuntuSeries are the releases tried, newest first.
var ubuntuSeries = []string{"ubuntu-noble-24.04", "ubuntu-jammy-22.04"}

// armTypeRE matches Graviton instance families (t4g, m7g, c7gn, x2gd, a1),
// which need arm64 images.
var armTypeRE = regexp.MustCompile(`^(a1|[a-z-]+[0-9]+[a-z]*g[a-z]*)\.`)

// archOf returns the EC2 architecture an instance type runs.
func archOf(instanceType string) string {
	if armTypeRE.MatchString(instanceType) {
		return "arm64"
	}
	return "x86_64"
}

// image returns the image to launch for an architecture: the configured
// one, or the newest Canonical Ubuntu LTS of the region, looked up once.
func (b *backend) image(ctx context.Context, r *regionState, arch string) (string, error) {
	if b.cfg.AMI != "" {
		return b.cfg.AMI, nil
	}
	r.mu.Lock()
	id := r.amis[arch]
	r.mu.Unlock()
	if id != "" {
		return id, nil
	}
	v, err := r.once(ctx, "ami/"+arch, func(ctx context.Context) (any, error) {
		id, err := b.findUbuntu(ctx, r, arch)
		if err == nil {
			r.mu.Lock()
			r.amis[arch] = id
			r.mu.Unlock()
		}
		return id, err
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (b *backend) findUbuntu(ctx context.Context, r *regionState, arch string) (string, error) {
	debArch := map[string]string{"x86_64": "amd64", "arm64": "arm64"}[arch]
	for _, series := range ubuntuSeries {
		b.debug("DescribeImages", r.name, "")
		out, err := r.client.DescribeImages(ctx, &ec2.DescribeImagesInput{
			Owners: []string{CanonicalOwner},
			Filters: []types.Filter{
				filter("name", "ubuntu/images/hvm-ssd*/"+series+"-"+debArch+"-server-*"),
				filter("architecture", arch),
				filter("state", "available"),
			},
		})
		if err != nil {
			return "", classify(err, "look up the %s image for %s in %s", series, arch, r.name)
		}
		if id := newest(out.Images); id != "" {
			return id, nil
		}
	}
	return "", permanent("InvalidAMIID.NotFound",
		"no Canonical Ubuntu 24.04 or 22.04 image for %s in %s; set ami in the aws config", arch, r.name)
}

// newest returns the id of the most recently created image (EC2 lists
// images in no particular order).
func newest(images []types.Image) string {
	var best string
	var bestAt time.Time
	var bestName string
	for _, img := range images {
		if awssdk.ToString(img.OwnerId) != CanonicalOwner {
			continue
		}
		at, err := time.Parse(time.RFC3339, awssdk.ToString(img.CreationDate))
		if err != nil {
			continue
		}
		name := awssdk.ToString(img.Name)
		if best == "" || at.After(bestAt) || at.Equal(bestAt) && name > bestName {
			best, bestAt, bestName = awssdk.ToString(img.ImageId), at, name
		}
	}
	return best
}
